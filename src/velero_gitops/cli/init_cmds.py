"""`velero-gitops init`: write a first config for the repository the user stands in."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from velero_gitops.cli._app import app, err, handle_errors, out

if TYPE_CHECKING:
    from velero_gitops.ops.init import Detected


@app.command("init")
@handle_errors
def init_cmd(
    cluster: str | None = typer.Option(
        None, "--cluster", metavar="NAME", help="Cluster name; in a repository with several clusters (Flux sync roots), the one "
        "to back up (default: the only cluster's, else this folder's name as a DNS label)."),
    s3_endpoint: str | None = typer.Option(None, "--s3-endpoint", metavar="URL", help="https://host[:port] of MinIO (asked on a terminal)."),
    bucket: str = typer.Option("velero-backups", "--bucket", metavar="NAME", help="Bucket for the backups."),
    prefix: str = typer.Option("velero", "--prefix", metavar="PREFIX", help="Folder in the bucket."),
    region: str = typer.Option("minio", "--region", metavar="REGION", help="S3 region (MinIO's default is fine)."),
    namespaces: list[str] | None = typer.Option(
        None, "--namespaces", metavar="NS[,NS...]", help="Namespaces the daily schedule backs up (asked on a terminal)."),
    distribution: str = typer.Option(
        "kubeadm", "--distribution", metavar="NAME", help="kubeadm, k3s, rke2, talos, k0s, microk8s, rke1 or custom (kubelet path)."),
    interactive: bool | None = typer.Option(
        None, "--interactive/--no-interactive", help="Ask for what is missing (default: when stdin is a terminal)."),
    allow_http: bool = typer.Option(False, "--allow-http", help="Accept a plain http:// endpoint (writes s3.allowHttp: true)."),
    apps_root: str | None = typer.Option(
        None, "--apps-root", metavar="FOLDER", help="The repository folder holding one folder per namespace, that Flux "
        "builds (default: found from the cluster's Flux sync root)."),
) -> None:
    """Write a commented ./velero-gitops.yaml for this repository (never overwrites)."""
    from velero_gitops.errors import UsageError
    from velero_gitops.ops import init
    from velero_gitops.ops.manifests import split_list

    here = Path.cwd()
    ask = sys.stdin.isatty() if interactive is None else interactive
    try:
        found = init.detect(here, cluster, apps_root)
    except init.SeveralClusters as exc:
        if not ask:
            raise
        err(str(exc))
        cluster = typer.prompt(f"Cluster ({', '.join(exc.names)})", value_proc=_one_of(exc.names))
        found = init.detect(here, cluster, apps_root)
    _existing_velero(found)  # before any question: with a Velero Flux applies, a fresh config is the wrong way in
    if ask:
        err(f"repository: {found.repo_root}; apps root: {found.apps_root}"
            f"{'' if found.apps_root_found else ' (not found)'}; Flux source: GitRepository/{found.source_name}; "
            f".sops.yaml: {found.sops_config or 'none'}")
        cluster = cluster or typer.prompt("Cluster name", default=init.default_cluster_name(here))
        if not s3_endpoint:
            # checked as it is typed: a late refusal would throw every answer away
            s3_endpoint = typer.prompt("S3 endpoint (https://host[:port])", value_proc=_endpoint)
            if s3_endpoint.startswith("http://") and not allow_http:
                allow_http = typer.confirm(f"{s3_endpoint} is plain http: credentials and backups would cross the "
                                           "network unencrypted. Allow it (s3.allowHttp: true)?", default=False)
                if not allow_http:
                    raise UsageError("not written: use an https:// endpoint, or answer yes to allow plain http")
        if not namespaces:
            namespaces = [typer.prompt("Namespaces to back up daily at 02:00 UTC (a,b,c)", default="default")]
    if not s3_endpoint:
        raise UsageError("--s3-endpoint is required without a terminal (e.g. --s3-endpoint https://s3.example.org)")
    answers = init.Answers(cluster=init.default_cluster_name(Path(cluster) if cluster else here), s3_endpoint=s3_endpoint, bucket=bucket, prefix=prefix,
                           region=region, namespaces=split_list(namespaces), distribution=distribution,
                           allow_http=allow_http)
    path = init.write(here, answers, found)
    if not found.apps_root_found:  # a guess: what render writes there is applied by nothing this repository shows
        err(f"warning: no folder a Flux Kustomization builds was found; {path.name} guesses appsRoot: "
            f"{found.apps_root}, which Flux will not apply as it stands: set repo.appsRoot to the folder your "
            "cluster's Flux Kustomization builds (or run init again with --apps-root) before render")
    err(f"wrote {path.name}; next: " + ("make the two Secrets it names (see its comment), render, check"
                                         if found.secrets_elsewhere else
                                         "velero-gitops sops-init, encrypt-secret, encrypt-repo-password, render, check"))


def _one_of(names: list[str]) -> Callable[[str], str]:
    """A prompt answer that must be one of ``names`` (asked again otherwise). Not click.Choice: typer vendors click,
    so a separate click may not be installed."""
    def check(text: str) -> str:
        if text.strip() not in names:
            raise typer.BadParameter(f"answer one of: {', '.join(names)}")
        return text.strip()
    return check


def _endpoint(text: str) -> str:
    """An endpoint answer: a URL with a host, https or http (http is confirmed next); else asked again."""
    from velero_gitops.config.names import url_problem

    problem = url_problem(text.strip(), ("https", "http"))
    if problem:
        raise typer.BadParameter(f"{problem}, such as https://s3.example.org or https://minio.lan:9000")
    return text.strip()


def _existing_velero(found: Detected) -> None:
    """Say so when the repository deploys Velero already; when Flux applies a velero HelmRelease, write nothing: render
    would refuse the config (a second install), and `import` is the way in."""
    from velero_gitops.config.loader import display
    from velero_gitops.errors import UsageError
    from velero_gitops.ops import importer, wiring

    facts = wiring.flux_facts(found.repo_root, [f"GitRepository/flux-system/{found.source_name}"])
    # the cluster whose apps root the config will name, as render and check judge it: another cluster's Velero
    # (clusters/experimental/...) is no second install of this one
    within = (found.repo_root / found.apps_root).resolve() if found.apps_root_found else None
    existing = importer.find_existing(found.repo_root, facts, within=within)
    hrs = importer.second_install(existing)
    for e in existing:
        if not hrs:
            err(f"warning: existing Velero: {importer.describe(e, display)}")
    if hrs:
        raise UsageError(f"{importer.CONFIG_NOT_WRITTEN}: " + importer.refusal(hrs, display))


@app.command("import")
@handle_errors
def import_cmd(
    helmrelease: Path = typer.Argument(..., help="The file with the existing velero HelmRelease.", show_default=False),
    cluster: str | None = typer.Option(None, "--cluster", metavar="NAME", help="As for init: the cluster (sync root) to use."),
    show_diff: bool = typer.Option(False, "--diff", help="Also print every line of the effective values diff."),
) -> None:
    """Write ./velero-gitops.yaml from an existing velero HelmRelease (never overwrites), and say what changes."""
    from velero_gitops.ops import importer, init

    here = Path.cwd()
    found = init.detect(here, cluster)
    result = importer.run_import(here, helmrelease, found, cluster)
    for line in result.changes:
        err(f"change: {line}")
    lost = [d for d in result.diff if d[0] in "-~"]
    err(f"effective values, old HelmRelease against the rendered one with extraValues merged under it: {len(lost)} "
        f"values removed or changed (each one is a change above), {len(result.diff) - len(lost)} set by velero-gitops"
        f"{'' if show_diff else ' (--diff prints them)'}")
    if show_diff:
        for line in result.diff:
            out(line, "diff")  # each line led by its marker (-, ~, +), chosen by the tool
    if len(result.appliers) > 1:
        err(f"warning: {result.source} is applied by {len(result.appliers)} Flux Kustomizations: "
            f"{'; '.join(result.appliers)}. Its folder is shared (a base several clusters build): removing the file "
            "removes Velero from each. Remove it only from the build of the cluster you import for (take the folder "
            "out of that cluster's overlay, or move it from the shared base into the overlays that keep it)")
    err(f"wrote {result.path.name}; next: remove {result.source} and what lists it"
        f"{' (only for this cluster: see the warning above)' if len(result.appliers) > 1 else ''}, velero-gitops "
        "encrypt-secret (unless the Secret is managed elsewhere), render, check, and commit it all at once")
