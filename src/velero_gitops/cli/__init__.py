"""Command-line entry point: `velero-gitops` and `python -m velero_gitops`.

Each command group lives in its own module and registers itself on import.
"""

from __future__ import annotations

from velero_gitops.cli._app import app
from velero_gitops.cli import render_cmds  # noqa: F401  (registers commands)

for _optional in ("secret_cmds", "validate_cmds", "s3_cmds", "ops_cmds"):
    # Command groups are added by separate modules; a module that is not there yet is simply absent.
    try:
        __import__(f"velero_gitops.cli.{_optional}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a group is missing
        if _exc.name != f"velero_gitops.cli.{_optional}":
            raise


def main() -> None:
    app()
