"""Day-2 commands: `backup-manifest`, `restore-manifest`, `explain`.

The manifests are printed (or written with --output-file) for users who apply them with kubectl or
commit them; `explain` shows what a config will do before it is committed.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from velero_gitops.cli._app import app, err, handle_errors

CONFIG_HELP = "Config file (default: ./velero-gitops.yaml or the only clusters/*/velero-gitops.yaml)."


class Output(str, Enum):
    table = "table"
    json = "json"


def _load(config: Optional[Path]):
    from velero_gitops.cli._configs import one_config
    from velero_gitops.loader import load

    return load(one_config(config))


def _emit(text: str, output_file: Optional[Path], force: bool) -> None:
    """Print, or write atomically; an existing different file is only replaced with --force."""
    if output_file is None:
        typer.echo(text, nl=False)
        return
    from velero_gitops.errors import UsageError
    from velero_gitops.write import atomic_write

    if output_file.exists():
        if output_file.is_dir():
            raise UsageError(f"{output_file} is a directory; name a file")
        if output_file.read_text(encoding="utf-8", errors="replace") == text:
            err(f"unchanged {output_file}")
            return
        if not force:
            raise UsageError(f"{output_file} exists with other content; use --force to replace it")
    parent = output_file.parent if str(output_file.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist")
    atomic_write(output_file, text.encode("utf-8"))
    err(f"wrote {output_file}")


@app.command("backup-manifest")
@handle_errors
def backup_manifest(
    name: str = typer.Argument(..., help="Backup name (DNS-1123 label, at most 63 characters)."),
    namespaces: List[str] = typer.Option(..., "--namespaces", "-n", help="Namespaces to back up: a,b or repeated; '*' for all."),
    ttl: Optional[str] = typer.Option(None, "--ttl", help="How long to keep it, e.g. 720h (default: velero.defaultBackupTtl)."),
    output_file: Optional[Path] = typer.Option(None, "--output-file", help="Write the manifest to this file instead of stdout."),
    wait_file: Optional[Path] = typer.Option(None, "--wait-file", hidden=True, help="Same as --output-file (the issue's name)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing different --output-file."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """A Velero Backup object (namespace, TTL and fs-backup default from the config). Apply with kubectl apply -f."""
    from velero_gitops import manifests

    loaded = _load(config)
    obj = manifests.backup(loaded.config, name, namespaces, ttl)
    _emit(manifests.to_yaml(obj, loaded.config), output_file or wait_file, force)


@app.command("restore-manifest")
@handle_errors
def restore_manifest(
    name: str = typer.Argument(..., help="Restore name (DNS-1123 label)."),
    from_backup: str = typer.Option(..., "--from-backup", help="The Backup to restore from."),
    namespace_mapping: Optional[List[str]] = typer.Option(
        None, "--namespace-mapping", "-m", help="old:new, repeated or comma-separated: restore namespace old as new."),
    include_namespaces: Optional[List[str]] = typer.Option(
        None, "--include-namespaces", "-n", help="Only restore these namespaces of the backup (a,b or repeated)."),
    output_file: Optional[Path] = typer.Option(None, "--output-file", help="Write the manifest to this file instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing different --output-file."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """A Velero Restore object, optionally into other namespaces (namespaceMapping)."""
    from velero_gitops import manifests

    loaded = _load(config)
    obj = manifests.restore(loaded.config, name, from_backup, namespace_mapping, include_namespaces)
    _emit(manifests.to_yaml(obj, loaded.config), output_file, force)


@app.command("explain")
@handle_errors
def explain_cmd(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table (words and tables) or json."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="IANA zone for the local times (default: this machine's)."),
) -> None:
    """What the config will do: schedules with their next runs (UTC and local), retention, bucket paths, Flux order."""
    from velero_gitops import explain

    loaded = _load(config)
    data = explain.explain(loaded, tz_name=timezone)
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console

    explain.render(data, Console())
