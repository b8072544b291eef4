"""Shared helpers for the alert and dashboard tests: promtool, the test config, metric allow-list.

promtool comes from Debian's `prometheus` package (`apt-get install -y prometheus`). Locally a missing
promtool skips the tests that need it; in CI (`CI` set to a true value) it fails them, so a broken
CI image cannot turn the rule tests into silent skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from velero_gitops.config import Config

PROMTOOL_DIR = Path(__file__).parent / "promtool"
RULES_FILE = PROMTOOL_DIR / "rules.yaml"  # generated from TEST_CONFIG; the unit tests load it
APT_INSTALL = "apt-get update && apt-get install -y --no-install-recommends prometheus"

# The config the committed rules file is generated from: a daily and an hourly schedule (the two
# cadences the missed-backup thresholds are tested with) and a paused one that must get no rules.
TEST_CONFIG: dict[str, Any] = {
    "cluster": "test-lab",
    "repo": {"namespace": "velero"},
    "s3": {"endpoint": "https://s3.example.test"},
    "schedules": [
        {"name": "daily", "cron": "0 2 * * *", "namespaces": ["database"]},
        {"name": "hourly", "cron": "0 * * * *", "namespaces": ["monitoring"]},
        {"name": "weekly-paused", "cron": "0 3 * * 0", "namespaces": ["network"], "paused": True},
    ],
    "metrics": {"additionalLabels": {"release": "kube-prometheus-stack"}},
}


def make_config(**metrics: Any) -> Config:
    """TEST_CONFIG as a Config, with ``metrics`` keys (camelCase) overridden."""
    data = {**TEST_CONFIG, "metrics": {**TEST_CONFIG["metrics"], **metrics}}
    return Config.model_validate(data)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def promtool() -> str:
    """Path of promtool; skip the test when it is missing, or fail it when running in CI."""
    path = shutil.which("promtool")
    if path:
        return path
    message = f"promtool not found; install it with: {APT_INSTALL}"
    if in_ci():
        pytest.fail(message + " (CI must not skip the rule tests)")
    pytest.skip(message)
    raise AssertionError("unreachable")


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False,
    )


# --------------------------------------------------------------------------------------- allow-list
# Metric names Velero 1.18 exports (pkg/metrics/metrics.go, domain.md §7). Server metrics use the
# `velero_` namespace; node-agent metrics use the `podVolume_` namespace (podVolumeMetricsNamespace),
# NOT `velero_`: a query for velero_pod_volume_* silently returns nothing.
VELERO_SERVER_METRICS = {
    f"velero_{m}" for m in (
        "backup_total", "backup_attempt_total", "backup_success_total", "backup_partial_failure_total",
        "backup_failure_total", "backup_validation_failure_total",
        "backup_deletion_attempt_total", "backup_deletion_success_total", "backup_deletion_failure_total",
        "backup_last_successful_timestamp", "backup_tarball_size_bytes", "backup_items_total",
        "backup_items_errors", "backup_warning_total", "backup_last_status", "backup_location_status_gauge",
        "restore_total", "restore_attempt_total", "restore_success_total", "restore_partial_failure_total",
        "restore_failed_total", "restore_validation_failed_total",
        "volume_snapshot_attempt_total", "volume_snapshot_success_total", "volume_snapshot_failure_total",
        "csi_snapshot_attempt_total", "csi_snapshot_success_total", "csi_snapshot_failure_total",
        "repo_maintenance_success_total", "repo_maintenance_failure_total",
    )
}
VELERO_HISTOGRAMS = {"velero_backup_duration_seconds", "velero_repo_maintenance_duration_seconds"}
NODE_AGENT_METRICS = {
    f"podVolume_{m}" for m in (
        "pod_volume_backup_enqueue_count", "pod_volume_backup_dequeue_count",
        "pod_volume_operation_latency_seconds_gauge",
        "data_upload_success_total", "data_upload_failure_total", "data_upload_cancel_total",
        "data_download_success_total", "data_download_failure_total", "data_download_cancel_total",
    )
}
NODE_AGENT_HISTOGRAMS = {"podVolume_pod_volume_operation_latency_seconds"}
KUBE_STATE_METRICS = {
    "kube_daemonset_status_number_ready", "kube_daemonset_status_desired_number_scheduled",
    "kube_daemonset_status_number_unavailable", "kube_daemonset_status_number_available",
}
# Our own recording rules (alerts.py) may be queried too.
RECORDED = {"velero:backup_success_ratio:30d"}


def allowed_metrics() -> set[str]:
    names = set(VELERO_SERVER_METRICS | NODE_AGENT_METRICS | KUBE_STATE_METRICS | RECORDED)
    for h in VELERO_HISTOGRAMS | NODE_AGENT_HISTOGRAMS:
        names |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return names


# ---------------------------------------------------------------------------- metric name extraction
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
    "unless", "inf", "nan", "atan2", "start", "end",
}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels.

    Strips strings, label matchers ``{...}``, ranges ``[...]`` and grouping clauses ``by (...)`` first.
    Good enough for the expressions we write (checked against promtool for syntax separately).
    """
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


# Grafana template variables, replaced by plausible values so promtool can parse a panel query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${schedule}": ".+",
    "$schedule": ".+",
    "${datasource}": "prometheus",
}


def substitute_grafana_variables(expr: str) -> str:
    for var in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(var, GRAFANA_VARIABLES[var])
    return expr
