"""Command-line entry point: `velero-gitops` and `python -m velero_gitops`.

Each command group lives in its own module and registers itself on import. Those modules import
only typer at module level, so start-up stays fast; the core is imported inside each command.
"""

from __future__ import annotations

# Import order is the order of `velero-gitops --help`: the main job first.
from velero_gitops.cli import (
    init_cmds,  # noqa: F401,I001
    ops_cmds,  # noqa: F401
    render_cmds,  # noqa: F401
    s3_cmds,  # noqa: F401
    secret_cmds,  # noqa: F401
    validate_cmds,  # noqa: F401
)
from velero_gitops.cli._app import app


def main() -> None:
    app()
