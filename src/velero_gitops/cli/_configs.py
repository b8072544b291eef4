"""Which config files a command works on when the user names none."""

from __future__ import annotations

from pathlib import Path

CONFIG_HELP = "Config file (default: ./velero-gitops.yaml or the only clusters/*/velero-gitops.yaml)."


def default_configs() -> list[Path]:
    """./velero-gitops.yaml, else every clusters/*/velero-gitops.yaml (sorted): config.loader.default_configs here."""
    from velero_gitops.config.loader import default_configs as in_folder

    return in_folder(Path("."))


def resolve_configs(*given: list[Path] | None) -> list[Path]:
    """The configs named by arguments and options, else the defaults; a usage error when there are none."""
    from velero_gitops.errors import UsageError

    configs = [p for group in given for p in (group or [])] or default_configs()
    if not configs:
        raise UsageError("no config given and no ./velero-gitops.yaml or clusters/*/velero-gitops.yaml found; use --config FILE")
    return configs


def one_config(config: Path | None) -> Path:
    """--config, else the single default config; a usage error when there are none or several."""
    from velero_gitops.errors import UsageError

    if config is not None:
        return config
    found = resolve_configs()
    if len(found) > 1:
        raise UsageError("several configs found (" + ", ".join(p.as_posix() for p in found) + "); choose one with --config FILE")
    return found[0]


def named_once(argument: Path | None, option: Path | None) -> Path | None:
    """The config given as the positional argument or as --config (the same convention on every command)."""
    from velero_gitops.errors import UsageError

    if argument is not None and option is not None and argument != option:
        raise UsageError("name the config once: as an argument or with --config")
    return argument or option
