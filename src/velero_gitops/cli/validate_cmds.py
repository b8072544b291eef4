"""`velero-gitops validate`, `velero-gitops check` and `velero-gitops schemas import`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from velero_gitops.cli._app import app, err, handle_errors, out
from velero_gitops.config.units import NODE_AGENT_CPU_BUDGET, NODE_AGENT_MEMORY_BUDGET

if TYPE_CHECKING:
    from velero_gitops.findings import Finding

schemas_app = typer.Typer(help="Manage JSON schemas (import CRDs into the cache).", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

_OUTPUT_HELP = "Output format: text, json, junit or github (GitHub Actions annotations)."
_IGNORE_HELP = "Regular expression (searched in the path) of files and folders to skip, as kubeconform's. Repeatable."


def _check_output(output: str) -> None:
    from velero_gitops.errors import UsageError
    from velero_gitops.validate.report import FORMATS

    if output not in FORMATS:
        raise UsageError(f"--output must be one of {', '.join(FORMATS)} (got {output!r})")


def _check_kustomize(kustomize: str) -> None:
    from velero_gitops.errors import UsageError

    if kustomize not in ("auto", "always", "never"):
        raise UsageError("--kustomize must be auto, always or never")


@contextlib.contextmanager
def progress(what: str) -> Iterator[None]:
    """A live status line (a spinner and what runs) on stderr while a long run works (a cold validate of a large
    repository takes 10-30 s), on a terminal only: a pipe or a CI log gets nothing but the result."""
    import sys

    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"{what} ...", spinner="dots"):
        yield


def _emit(findings: list[Finding], passed: int, failed: int, skipped: int, output: str) -> None:
    from velero_gitops.validate.report import render

    out(render(findings, passed, failed, skipped, output), "document", nl=False)  # report.py escapes what it prints
    if any(f.severity == "error" for f in findings) or failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def validate(
    paths: list[str] = typer.Argument(..., help="Files or directories (recursive); '-' reads stdin.", show_default=False),
    schema_location: list[str] | None = typer.Option(
        None, "--schema-location",
        help="kubeconform-style location: 'default' (the offline bundle), a directory, or a URL/path template "
        "with {{.Group}}, {{.ResourceKind}}, {{.ResourceAPIVersion}}, {{.NormalizedKubernetesVersion}}, {{.StrictSuffix}}. Repeatable."),
    cache: Path | None = typer.Option(None, "--cache", help="Cache directory for downloaded and imported schemas (default: ~/.cache/velero-gitops/schemas)."),
    kubernetes_version: str = typer.Option("", "--kubernetes-version", help="Kubernetes version for schema templates (default: the bundle's)."),
    ignore_missing_schemas: bool = typer.Option(False, "--ignore-missing-schemas", help="Skip objects whose schema cannot be found."),
    skip: str = typer.Option("", "--skip", help="Comma-separated kinds (or apiVersion/Kind) to skip."),
    strict: bool = typer.Option(True, "--strict/--no-strict", help="Unknown fields are errors."),
    output: str = typer.Option("text", "--output", "-o", help=_OUTPUT_HELP),
    repo_root: Path | None = typer.Option(None, "--repo-root", help="Root that Flux Kustomization paths are relative to (default: nearest .git/.sops.yaml/kubernetes/ ancestor)."),
    kustomize: str = typer.Option("auto", "--kustomize", help="Build kustomizations with kubectl, in a bubblewrap sandbox (refused where none can be made): auto (when kubectl is on PATH), always, never."),
    kustomize_cache: bool = typer.Option(True, "--kustomize-cache/--no-kustomize-cache", help="Reuse kustomize builds keyed on the content they read (never builds holding a Secret)."),
    ignore_filename_pattern: list[str] | None = typer.Option(
        None, "--ignore-filename-pattern",
        help=_IGNORE_HELP),
    flux: bool = typer.Option(True, "--flux/--no-flux", help="Check the Flux graph (paths, references, dependsOn, decryption, CRD order)."),
    policy: bool = typer.Option(True, "--policy/--no-policy", help="Check the Velero policy rules and plaintext Secrets."),
    repo_source: list[str] | None = typer.Option(
        None, "--repo-source",
        help="Kind/namespace/name of the Flux source holding this repository (default: flux-system/flux-system, Git or OCI): "
        "paths of Kustomizations reading it are checked on disk. Repeatable."),
    external: list[str] | None = typer.Option(None, "--external", help="Kind/namespace/name of an object that exists outside the tree (dependsOn/sourceRef targets). Repeatable."),
    no_cross_namespace_refs: bool = typer.Option(False, "--no-cross-namespace-refs", help="The Flux controllers run with --no-cross-namespace-refs: a sourceRef/chartRef to another namespace is a finding."),
    allow_http_s3: bool = typer.Option(False, "--allow-http-s3", help="Allow http:// s3Url."),
    allow_s3_path: bool = typer.Option(False, "--allow-s3-path", help="Allow a path in s3Url."),
    allow_insecure_tls: bool = typer.Option(False, "--allow-insecure-tls", help="Allow insecureSkipTLSVerify: \"true\"."),
    node_agent_cpu_limit: str | None = typer.Option(
        None, "--node-agent-cpu-limit", show_default=False,
        help=f"Budget for the node-agent CPU limit (default: velero.nodeAgent.budget.cpu of the repository's config for the tree read, else {NODE_AGENT_CPU_BUDGET})."),
    node_agent_memory_limit: str | None = typer.Option(
        None, "--node-agent-memory-limit", show_default=False,
        help=f"Budget for the node-agent memory limit (default: velero.nodeAgent.budget.memory of the repository's config for the tree read, else {NODE_AGENT_MEMORY_BUDGET})."),
) -> None:
    """Validate Kubernetes/Flux manifests: YAML, schemas (strict), kustomize builds, Flux graph, policy."""
    from velero_gitops.check import budget_options, configs_for, node_agent_budget
    from velero_gitops.validate.engine import Options, validate_paths
    from velero_gitops.validate.run import DEFAULT_REPO_SOURCES

    _check_output(output)
    _check_kustomize(kustomize)
    # the budget check holds the tree to (its config's), each flag given overriding its own part
    given = {r: (v, "") for r, v in (("cpu", node_agent_cpu_limit), ("memory", node_agent_memory_limit)) if v}
    budget = {} if len(given) == 2 or not policy else node_agent_budget(configs_for(paths, str(repo_root) if repo_root else None))
    opts = Options(
        schema_locations=list(schema_location or []),
        cache_dir=str(cache) if cache else None,
        kubernetes_version=kubernetes_version,
        strict=strict,
        ignore_missing_schemas=ignore_missing_schemas,
        skip_kinds=[s for s in skip.split(",") if s.strip()],
        repo_root=str(repo_root) if repo_root else None,
        kustomize=kustomize,
        kustomize_cache=kustomize_cache,
        ignore_filename_patterns=list(ignore_filename_pattern or []),
        flux=flux,
        policy=policy,
        externals=_refs("--external", external),
        no_cross_namespace_refs=no_cross_namespace_refs,
        repo_sources=_refs("--repo-source", repo_source) or list(DEFAULT_REPO_SOURCES),
        allow_http_s3=allow_http_s3,
        allow_s3_path=allow_s3_path,
        allow_insecure_tls=allow_insecure_tls,
        **budget_options({**budget, **given}),
    )
    with progress(f"validating {', '.join(paths)}"):
        result = validate_paths(paths, opts)
    _emit(result.findings, result.passed, result.failed, result.skipped, output)


@schemas_app.command("import")
@handle_errors
def schemas_import(
    files: list[Path] = typer.Argument(..., help="CRD files (multi-document YAML).", show_default=False),
    cache: Path | None = typer.Option(None, "--cache", help="Cache directory (default: ~/.cache/velero-gitops/schemas)."),
) -> None:
    """Convert CustomResourceDefinitions to JSON schemas (kubeconform's openapi2jsonschema rules) into the cache."""
    from velero_gitops.validate.schemas import import_crds

    for p in import_crds([str(f) for f in files], cache):
        out(f"wrote {p}")


@app.command("check")
@handle_errors
def check_cmd(
    configs: list[Path] | None = typer.Argument(None, help="Config files (same as --config).", show_default=False),
    config: list[Path] | None = typer.Option(None, "--config", "-c", help="Config file; repeatable (default: ./velero-gitops.yaml, else every clusters/*/velero-gitops.yaml)."),
    output: str = typer.Option("text", "--output", "-o", help=_OUTPUT_HELP),
    schema_location: list[str] | None = typer.Option(
        None, "--schema-location",
        help="Extra schema location for the rest of the repository, after the offline bundle (as for validate). Repeatable."),
    ignore_missing_schemas: bool = typer.Option(False, "--ignore-missing-schemas", help="Skip objects outside the rendered tree whose schema cannot be found."),
    ignore_filename_pattern: list[str] | None = typer.Option(
        None, "--ignore-filename-pattern",
        help=_IGNORE_HELP + " Matched also against the repository-relative path; never skips a rendered file."),
    skip: str = typer.Option("", "--skip", help="Comma-separated kinds (or apiVersion/Kind) to skip outside the rendered tree."),
    external: list[str] | None = typer.Option(None, "--external", help="Kind/namespace/name of an object that exists outside the repository. Repeatable."),
    kubernetes_version: str = typer.Option("", "--kubernetes-version", help="Kubernetes version for schema templates (default: the bundle's)."),
    kustomize: str = typer.Option("auto", "--kustomize", help="Build kustomizations with kubectl, in a bubblewrap sandbox (refused where none can be made): auto (when kubectl is on PATH), always, never."),
    cache: Path | None = typer.Option(None, "--cache", help="Schema cache directory."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not replay the stored result of an identical clean run."),
) -> None:
    """Everything a commit must pass: the rendered tree is in sync, the repository valid, its secrets encrypted.

    Strict on the files the tool renders; kubeconform-like on the rest of the repository, as the config's
    `check:` section and the options say. Writes nothing.
    """
    from velero_gitops.cli._configs import resolve_configs
    from velero_gitops.errors import ConfigError

    _check_output(output)
    _check_kustomize(kustomize)
    try:
        _run_check(resolve_configs(configs, config), output, schema_location, ignore_missing_schemas,
                   ignore_filename_pattern, skip, external, kubernetes_version, kustomize, cache, no_cache)
    except ConfigError as exc:
        if output == "text":
            raise
        from velero_gitops.validate.report import config_findings, render

        out(render(config_findings(exc.problems), 0, 0, 0, output), "document", nl=False)  # a typo is an annotation too
        raise typer.Exit(exc.exit_code) from None


def _refs(option: str, values: list[str] | None) -> list[str]:
    """Kind/namespace/name references from the command line, each one an object the API server could hold
    (config/names.object_ref_problem); a UsageError (exit 2) naming the bad one otherwise."""
    from velero_gitops.config.names import object_ref_problem, shown
    from velero_gitops.errors import UsageError

    for v in values or []:
        problem = object_ref_problem(v)
        if problem:
            raise UsageError(f"{option} {shown(v)}: {problem}")
    return list(values or [])


def _run_check(paths: list[Path], output: str, schema_location: list[str] | None, ignore_missing_schemas: bool,
               ignore_filename_pattern: list[str] | None, skip: str, external: list[str] | None,
               kubernetes_version: str, kustomize: str, cache: Path | None, no_cache: bool) -> None:
    from velero_gitops.check import CheckOptions, check_or_replay

    opts = CheckOptions(
        schema_locations=list(schema_location or []),
        ignore_missing_schemas=ignore_missing_schemas,
        ignore_filename_patterns=list(ignore_filename_pattern or []),
        skip=[s.strip() for s in skip.split(",") if s.strip()],
        externals=_refs("--external", external),
        kubernetes_version=kubernetes_version,
        kustomize=kustomize,
        cache_dir=str(cache) if cache else None,
    )
    with progress("checking " + ", ".join(str(p) for p in paths)):
        result = check_or_replay(paths, opts, use_cache=not no_cache)
    if result.suppressed:  # on stderr: the report on stdout keeps its format
        err(f"note: the config's check: section (ignoreFilenamePatterns, skip, ignoreMissingSchemas) suppressed "
            f"{result.suppressed} finding(s); secrets in clear are never suppressed")
    _emit(result.findings, result.passed, result.failed, result.skipped, output)


@app.command("rules")
def rules_cmd() -> None:
    """Print the rule list (Markdown) of docs/validation.md, generated from the rule registry."""
    out(rules_markdown(), "document", nl=False)


def rules_markdown() -> str:
    """Every declared rule: importing the checkers declares them (velero_gitops.rules)."""
    from velero_gitops import check, rules  # noqa: F401 - check declares flux.unwired and velero.second-install
    from velero_gitops.ops import namespaces, ordering, prometheus, storage  # noqa: F401 - their check-only rules
    from velero_gitops.secrets import secret_check  # noqa: F401 - declares the secret.* rules
    from velero_gitops.validate import engine  # noqa: F401 - declares yaml, schema, kustomize, flux and policy rules

    return rules.markdown()
