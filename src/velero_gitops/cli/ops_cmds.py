"""Day-2 commands: `backup-manifest`, `restore-manifest`, `explain`.

The manifests are printed (or written with --output-file) for users who apply them with kubectl or
commit them; `explain` shows what a config will do before it is committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from velero_gitops.boundary import realpath
from velero_gitops.cli._app import Output, app, err, handle_errors, out, out_json
from velero_gitops.cli._configs import CONFIG_HELP, named_once

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig


def _load(config: Path | None) -> LoadedConfig:
    from velero_gitops.cli._configs import one_config
    from velero_gitops.config.loader import load

    return load(one_config(config))


def _emit(text: str, output_file: Path | None, force: bool) -> None:
    """Print, or write atomically; an existing different file is only replaced with --force."""
    if output_file is None:
        out(text, "document", nl=False)  # manifests from the validated config
        return
    import os
    import stat

    from velero_gitops.errors import UsageError
    from velero_gitops.render.write import atomic_write

    try:
        st = os.stat(output_file)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{output_file}: {exc.strerror}; name a regular file") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{output_file} is a directory; name a file")
        # a device (/dev/zero, /dev/full), /proc file, FIFO or socket is never read or replaced
        if not stat.S_ISREG(st.st_mode) or str(realpath(output_file)).startswith(("/proc/", "/sys/")):
            raise UsageError(f"{output_file} is not a regular file; name a regular file")
        try:
            with open(output_file, "rb") as fh:
                same = fh.read(len(text.encode("utf-8")) + 1) == text.encode("utf-8")
        except OSError as exc:
            raise UsageError(f"{output_file}: {exc.strerror}") from None
        if same:
            err(f"unchanged {output_file}")
            return
        if not force:
            raise UsageError(f"{output_file} exists with other content; use --force to replace it")
    parent = output_file.parent if str(output_file.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist")
    try:
        atomic_write(output_file, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {output_file}: {exc.strerror or exc}; nothing was written") from None
    err(f"wrote {output_file}")


@app.command("backup-manifest")
@handle_errors
def backup_manifest(
    name: str | None = typer.Argument(None, help="Backup name (DNS-1123 label); optional with --from-schedule.", show_default=False),
    include_namespaces: list[str] | None = typer.Option(
        None, "--include-namespaces", metavar="NS[,NS...]", help="Namespaces to back up (names or globs; '*' for all). Repeatable."),
    exclude_namespaces: list[str] | None = typer.Option(
        None, "--exclude-namespaces", metavar="NS[,NS...]", help="Namespaces to leave out. Repeatable."),
    selector: str | None = typer.Option(None, "--selector", "-l", metavar="SELECTOR", help="Only resources matching this label selector (app=db,tier!=cache)."),
    from_schedule: str | None = typer.Option(
        None, "--from-schedule", metavar="SCHEDULE", help="A backup from a schedule of the config, as Velero makes it (no other filters)."),
    ttl: str | None = typer.Option(None, "--ttl", metavar="DURATION", help="How long to keep it, e.g. 720h (default: velero.defaultBackupTtl)."),
    output_file: Path | None = typer.Option(None, "--output-file", metavar="FILE", help="Write the manifest to this file instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing different --output-file."),
    config: Path | None = typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP),
) -> None:
    """A Velero Backup object (namespace, TTL and fs-backup default from the config). Apply with kubectl apply -f."""
    from velero_gitops.errors import UsageError
    from velero_gitops.ops import manifests

    loaded = _load(config)
    if from_schedule is not None:
        if include_namespaces or exclude_namespaces or selector or ttl:
            raise UsageError("--from-schedule takes the schedule's filters and TTL; leave out --include-namespaces, "
                             "--exclude-namespaces, --selector and --ttl")
        obj = manifests.backup_from_schedule(loaded.config, from_schedule, name)
    else:
        if name is None:
            raise UsageError("name the backup (velero-gitops backup-manifest NAME ...), or use --from-schedule")
        obj = manifests.backup(loaded.config, name, include_namespaces, ttl, exclude_namespaces, selector)
    _emit(manifests.to_yaml(obj, loaded.config), output_file, force)


@app.command("restore-manifest")
@handle_errors
def restore_manifest(
    name: str = typer.Argument(..., help="Restore name (DNS-1123 label).", show_default=False),
    from_backup: str = typer.Option(..., "--from-backup", metavar="BACKUP", help="The Backup to restore from."),
    namespace_mappings: list[str] | None = typer.Option(
        None, "--namespace-mappings", "--namespace-mapping", metavar="OLD:NEW[,...]",
        help="Restore namespace OLD as NEW. Repeatable."),
    include_namespaces: list[str] | None = typer.Option(
        None, "--include-namespaces", metavar="NS[,NS...]", help="Only restore these namespaces of the backup. Repeatable."),
    exclude_namespaces: list[str] | None = typer.Option(
        None, "--exclude-namespaces", metavar="NS[,NS...]", help="Namespaces of the backup to leave out. Repeatable."),
    selector: str | None = typer.Option(None, "--selector", "-l", metavar="SELECTOR", help="Only resources matching this label selector."),
    exclude_resources: list[str] | None = typer.Option(
        None, "--exclude-resources", metavar="RESOURCE[,...]",
        help="Resources to leave out, as resource.group (helmreleases.helm.toolkit.fluxcd.io). Repeatable."),
    output_file: Path | None = typer.Option(None, "--output-file", metavar="FILE", help="Write the manifest to this file instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing different --output-file."),
    config: Path | None = typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP),
) -> None:
    """A Velero Restore object, optionally into other namespaces (namespaceMapping)."""
    from velero_gitops.ops import manifests

    loaded = _load(config)
    obj = manifests.restore(loaded.config, name, from_backup, namespace_mappings, include_namespaces,
                            exclude_namespaces, selector, exclude_resources)
    for warning in manifests.restore_warnings(obj["spec"], loaded.config):
        err(f"warning: {warning}")
    _emit(manifests.to_yaml(obj, loaded.config), output_file, force)


@app.command("explain")
@handle_errors
def explain_cmd(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table (words and tables) or json."),
    timezone: str | None = typer.Option(None, "--timezone", help="IANA zone for the local times (default: this machine's)."),
) -> None:
    """What the config will do: schedules with their next runs (UTC and local), retention, bucket paths, Flux order."""
    from velero_gitops.ops import explain

    loaded = _load(named_once(config_arg, config))
    data = explain.explain(loaded, tz_name=timezone) | explain.repository_facts(loaded)
    if output is Output.json:
        out_json(data)
        return
    from rich.console import Console

    explain.render(data, Console())


@app.command("disaster-recovery")
@handle_errors
def disaster_recovery_cmd(
    backup: str = typer.Option("<backup>", "--from-backup", metavar="BACKUP", help="The Backup to restore from (e.g. the last daily-...)."),
    config: Path | None = typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP),
) -> None:
    """The ordered steps that rebuild a cluster from the bucket and Git: Velero alone, restore, then Flux applies the apps."""
    from velero_gitops.ops import disaster

    out(disaster.as_text(disaster.procedure(_load(config), backup)))
