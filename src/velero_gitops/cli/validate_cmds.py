"""`velero-gitops validate`, `velero-gitops check` and `velero-gitops schemas import`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from velero_gitops.cli._app import app, handle_errors
from velero_gitops.cli._configs import default_configs
from velero_gitops.units import NODE_AGENT_CPU_BUDGET, NODE_AGENT_MEMORY_BUDGET

schemas_app = typer.Typer(help="Manage JSON schemas (import CRDs into the cache).", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

_OUTPUT_HELP = "Output format: text, json, junit or github (GitHub Actions annotations)."


def _check_output(output: str) -> None:
    from velero_gitops.errors import UsageError
    from velero_gitops.validate.report import FORMATS

    if output not in FORMATS:
        raise UsageError(f"--output must be one of {', '.join(FORMATS)} (got {output!r})")


def _emit(findings, passed: int, failed: int, skipped: int, output: str) -> None:
    from velero_gitops.validate.report import render

    typer.echo(render(findings, passed, failed, skipped, output), nl=False)
    if any(f.severity == "error" for f in findings) or failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def validate(
    paths: List[str] = typer.Argument(..., help="Files or directories (recursive); '-' reads stdin.", show_default=False),
    schema_location: Optional[List[str]] = typer.Option(
        None, "--schema-location", "-schema-location",
        help="kubeconform-style location: 'default' (the offline bundle), a directory, or a URL/path template "
        "with {{.Group}}, {{.ResourceKind}}, {{.ResourceAPIVersion}}, {{.NormalizedKubernetesVersion}}, {{.StrictSuffix}}. Repeatable."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache directory for downloaded and imported schemas (default: ~/.cache/velero-gitops/schemas)."),
    kubernetes_version: str = typer.Option("", "--kubernetes-version", help="Kubernetes version for schema templates (default: the bundle's)."),
    ignore_missing_schemas: bool = typer.Option(False, "--ignore-missing-schemas", help="Skip objects whose schema cannot be found."),
    skip: str = typer.Option("", "--skip", help="Comma-separated kinds (or apiVersion/Kind) to skip."),
    strict: bool = typer.Option(True, "--strict/--no-strict", help="Unknown fields are errors."),
    output: str = typer.Option("text", "--output", "-o", help=_OUTPUT_HELP),
    repo_root: Optional[Path] = typer.Option(None, "--repo-root", help="Root that Flux Kustomization paths are relative to (default: nearest .git/.sops.yaml/kubernetes/ ancestor)."),
    kustomize: str = typer.Option("auto", "--kustomize", help="Build kustomizations with kubectl: auto (when on PATH), always, never."),
    kustomize_cache: bool = typer.Option(True, "--kustomize-cache/--no-kustomize-cache", help="Reuse kustomize builds keyed on the content they read (never builds holding a Secret)."),
    ignore_filename_pattern: Optional[List[str]] = typer.Option(
        None, "--ignore-filename-pattern", "-ignore-filename-pattern",
        help="Regular expression (searched in the path) of files and folders to skip, as kubeconform's. Repeatable."),
    flux: bool = typer.Option(True, "--flux/--no-flux", help="Check the Flux graph (paths, references, dependsOn, decryption, CRD order)."),
    policy: bool = typer.Option(True, "--policy/--no-policy", help="Check the Velero policy rules and plaintext Secrets."),
    repo_source: Optional[List[str]] = typer.Option(
        None, "--repo-source",
        help="Kind/namespace/name of the Flux source holding this repository (default: flux-system/flux-system, Git or OCI): "
        "paths of Kustomizations reading it are checked on disk. Repeatable."),
    external: Optional[List[str]] = typer.Option(None, "--external", help="Kind/namespace/name of an object that exists outside the tree (dependsOn/sourceRef targets). Repeatable."),
    no_cross_namespace_refs: bool = typer.Option(False, "--no-cross-namespace-refs", help="The Flux controllers run with --no-cross-namespace-refs: a sourceRef/chartRef to another namespace is a finding."),
    allow_http_s3: bool = typer.Option(False, "--allow-http-s3", help="Allow http:// s3Url."),
    allow_s3_path: bool = typer.Option(False, "--allow-s3-path", help="Allow a path in s3Url."),
    allow_insecure_tls: bool = typer.Option(False, "--allow-insecure-tls", help="Allow insecureSkipTLSVerify: \"true\"."),
    node_agent_cpu_limit: str = typer.Option(NODE_AGENT_CPU_BUDGET, "--node-agent-cpu-limit", help="Budget for the node-agent CPU limit."),
    node_agent_memory_limit: str = typer.Option(NODE_AGENT_MEMORY_BUDGET, "--node-agent-memory-limit", help="Budget for the node-agent memory limit."),
) -> None:
    """Validate Kubernetes/Flux manifests: YAML, schemas (strict), kustomize builds, Flux graph, policy."""
    from velero_gitops.errors import UsageError
    from velero_gitops.validate.engine import DEFAULT_REPO_SOURCES, Options, validate_paths

    _check_output(output)
    if kustomize not in ("auto", "always", "never"):
        raise UsageError("--kustomize must be auto, always or never")
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
        externals=list(external or []),
        no_cross_namespace_refs=no_cross_namespace_refs,
        repo_sources=list(repo_source or []) or list(DEFAULT_REPO_SOURCES),
        allow_http_s3=allow_http_s3,
        allow_s3_path=allow_s3_path,
        allow_insecure_tls=allow_insecure_tls,
        node_agent_cpu_limit=node_agent_cpu_limit,
        node_agent_memory_limit=node_agent_memory_limit,
    )
    result = validate_paths(paths, opts)
    _emit(result.findings, result.passed, result.failed, result.skipped, output)


@schemas_app.command("import")
@handle_errors
def schemas_import(
    files: List[Path] = typer.Argument(..., help="CRD files (multi-document YAML).", show_default=False),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache directory (default: ~/.cache/velero-gitops/schemas)."),
) -> None:
    """Convert CustomResourceDefinitions to JSON schemas (kubeconform's openapi2jsonschema rules) into the cache."""
    from velero_gitops.validate.schemas import import_crds

    for p in import_crds([str(f) for f in files], cache):
        typer.echo(f"wrote {p}")


def _check_trees(configs: list[Path]) -> list[Path]:
    """Directories a check of these configs reads: each config's folder and its `repo.root` (cheap, no YAML parser)."""
    import re

    trees: list[Path] = []
    for c in configs:
        trees.append(c.parent)
        try:
            m = re.search(r"^repo:\s*\n(?:[ \t]+.*\n|\s*\n|#.*\n)*?[ \t]+root:[ \t]*['\"]?([^'\"\s#]+)", c.read_text(), re.M)
        except OSError:
            m = None
        if m and m.group(1) not in (".", "./"):
            trees.append((c.parent / m.group(1)))
    return trees


def _check_key(paths: list[Path], cache: Path | None) -> str:
    from velero_gitops import runcache

    return runcache.fingerprint("check", paths, _check_trees(paths), options=f"cache={cache}")


def replay_check(argv: list[str]) -> int | None:
    """Replay a stored clean `check` result without letting typer parse (typer >= 0.2x imports pydantic for that).

    For ``cli.main()`` to call before ``app()``: returns the exit code when ``argv`` (the words after
    ``check``) only uses --config/-c, --output/-o, --cache and config paths and an identical clean run
    is stored; None otherwise (then the normal command runs).
    """
    from velero_gitops import runcache
    from velero_gitops.validate.report import FORMATS

    configs: list[Path] = []
    output, cache = "text", None
    it = iter(argv)
    for word in it:
        if word in ("--config", "-c", "--output", "-o", "--cache"):
            value = next(it, None)
            if value is None:
                return None
            if word in ("--config", "-c"):
                configs.append(Path(value))
            elif word in ("--output", "-o"):
                output = value
            else:
                cache = Path(value)
        elif word.startswith("-") or output not in FORMATS:
            return None
        else:
            configs.append(Path(word))
    if output not in FORMATS or runcache.disabled():
        return None
    configs = configs or default_configs()
    if not configs:
        return None
    hit = runcache.load(_check_key(configs, cache))
    if hit is None:
        return None
    from velero_gitops.validate.findings import Finding
    from velero_gitops.validate.report import render

    import sys

    sys.stdout.write(render([Finding(**f) for f in hit["findings"]], hit["passed"], hit["failed"], hit["skipped"], output))
    return 0


@app.command()
@handle_errors
def check(
    configs: Optional[List[Path]] = typer.Argument(None, help="Config files (same as --config).", show_default=False),
    config: Optional[List[Path]] = typer.Option(None, "--config", "-c", help="Config file; repeatable (default: clusters/*/velero-gitops.yaml)."),
    output: str = typer.Option("text", "--output", "-o", help=_OUTPUT_HELP),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Schema cache directory."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not replay the stored result of an identical clean run."),
) -> None:
    """Everything a commit must pass: the rendered tree is in sync, valid, and its secrets encrypted. Writes nothing."""
    from velero_gitops import runcache
    from velero_gitops.errors import UsageError
    from velero_gitops.validate.findings import Finding

    _check_output(output)
    paths = list(configs or []) + list(config or [])
    if not paths:
        paths = default_configs()
    if not paths:
        raise UsageError("no config given and no clusters/*/velero-gitops.yaml found; use --config FILE")
    # A clean result for exactly these inputs (every file of the trees, the tool, kubectl, sops) is replayed.
    key = None
    if not no_cache:
        key = _check_key([Path(p) for p in paths], cache)
        hit = runcache.load(key)
        if hit is not None:
            _emit([Finding(**f) for f in hit["findings"]], hit["passed"], hit["failed"], hit["skipped"], output)
            return
    from velero_gitops.validate.checkrun import run_check

    findings, passed, failed, skipped = run_check(paths, cache_dir=str(cache) if cache else None)
    if key is not None and failed == 0 and not any(f.severity == "error" for f in findings):
        from dataclasses import asdict

        runcache.store(key, {"findings": [asdict(f) for f in findings], "passed": passed, "failed": failed,
                             "skipped": skipped})
    _emit(findings, passed, failed, skipped, output)
