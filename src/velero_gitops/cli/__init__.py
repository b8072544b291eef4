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

# kubeconform spells these long options with one dash. Declared as click aliases, `--help` would list
# `-schema-location` first and read like a typo; so only the `--` form is declared and the kubeconform
# spelling is rewritten to it before click parses (after a bare `--` everything is an argument).
KUBECONFORM_ALIASES = ("-schema-location", "-ignore-filename-pattern")


def kubeconform_aliases(args: list[str]) -> list[str]:
    """``args`` with kubeconform's one-dash long options (``-schema-location x``, ``-schema-location=x``) in
    their ``--`` form."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name = arg.partition("=")[0]
        out.append("-" + arg if name in KUBECONFORM_ALIASES else arg)
    return out


_RECEIVED: list[int] = []  # the signals received, first first: the exit status says the first one


def _terminate(signum: int, frame: object) -> None:  # noqa: ARG001
    from velero_gitops.errors import Terminated

    _RECEIVED.append(signum)
    raise Terminated(signum)


def main() -> None:
    import os
    import signal
    import sys

    from velero_gitops import goregexp, yamlsafe
    from velero_gitops.errors import Terminated

    # SIGINT, SIGTERM and SIGHUP unwind (errors.Terminated, a KeyboardInterrupt), so every clean-up runs, and the run
    # exits 128+signum, as a process killed by the signal reports in a shell, wherever the signal lands: in a command
    # (cli._app.handle_errors), while click parses (click turns a KeyboardInterrupt into Abort, exit 1) or outside
    # the app (Python would re-raise it as SIGINT: 130 for every signal)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    # At the first model it builds, pydantic reads the entry points of every installed distribution to find plugins
    # (pydantic@v2.13.4:pydantic/plugin/_loader.py get_plugins): 30 ms of a cold start beside 300 packages, and
    # third-party code run on the config. The CLI uses none; a value the user set stays.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    try:
        # one command is one run: its YAML files share one node budget, its repository patterns one compile budget
        with yamlsafe.run_budget(), goregexp.run():
            app(args=kubeconform_aliases(sys.argv[1:]))
    except SystemExit:
        if _RECEIVED:
            raise SystemExit(128 + _RECEIVED[0]) from None
        raise
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        sys.stderr.write("interrupted\n" if signum == signal.SIGINT else "terminated\n")
        raise SystemExit(128 + signum) from None
