"""The typer application and the one place where exceptions become exit codes.

Exit codes: 0 ok, 1 findings or drift, 2 usage or config error. Command modules import
only typer at module level; the core is imported inside each command so that
`velero-gitops check` starts fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="velero-gitops",
    help="Render, encrypt and validate a FluxCD tree that deploys Velero (kopia file-system backups) to MinIO S3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: never truncated, pipes cleanly, the same on every typer version
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


class Output(str, Enum):
    """--output of the commands that print a table for people or JSON for programs."""

    table = "table"
    json = "json"


def err(message: str) -> None:
    """Print a message to stderr (plain text, no markup interpretation). Its lines are ours; within a line
    every control character (a carriage return, an escape sequence from a server or a folder name) is
    written as an escape, so nothing can overwrite or colour what the terminal shows, and each line starts with
    a character the tool chose (shown.lead), so a CI runner reads no workflow command in it."""
    from velero_gitops.shown import esc, lead

    sys.stderr.write("\n".join(lead(esc(line)) for line in message.rstrip("\n").split("\n")) + "\n")


def out(text: str, form: str = "lines", nl: bool = True) -> None:
    """Print ``text`` (and a newline unless ``nl`` is False) to stdout: the one boundary of the commands' stdout, as
    err() is of stderr.

    - ``lines`` (messages naming files, folders, objects): each line as err() writes it, escaped and led by a
      character the tool chose;
    - ``diff`` (a unified diff of a tracked file against the rendered one): each line escaped, its marker kept; a
      context line, whose marker is a space the runner trims, shows a leading ``:`` of the file's text as ``\\x3a``;
    - ``document`` (YAML, JSON or Markdown the tool generated from its own model or a validated config, or a report
      that escaped what it holds): as is."""
    from velero_gitops.shown import esc, lead

    body = text + "\n" if nl else text
    if form != "document":
        core, tail = (body[:-1], "\n") if body.endswith("\n") else (body, "")
        line = (lambda s: _diff_line(esc(s))) if form == "diff" else (lambda s: lead(esc(s)))
        body = "\n".join(line(s) for s in core.split("\n")) + tail
    sys.stdout.write(body)


def out_json(data: object) -> None:
    """Print a JSON document: json.dumps writes every control character as an escape; the runner's `##[`, which it
    finds anywhere in a line, is written ``#\\u0023[`` (the same string to a JSON reader)."""
    import json

    from velero_gitops.shown import V1_COMMAND

    sys.stdout.write(json.dumps(data, indent=2).replace(V1_COMMAND, "#\\u0023[") + "\n")


def _diff_line(line: str) -> str:
    if line.startswith(" ") and line.lstrip(" ").startswith(":"):
        i = len(line) - len(line.lstrip(" "))
        return f"{line[:i]}\\x3a{line[i + 1:]}"
    return line


def handle_errors(fn: F) -> F:
    """Turn the core's user-facing exceptions into a message and exit 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from velero_gitops.errors import VeleroGitopsError

        try:
            return fn(*args, **kwargs)
        except VeleroGitopsError as exc:
            err(f"error: {exc}" if "\n" not in str(exc) else str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            from velero_gitops.errors import Terminated

            signum = exc.signum if isinstance(exc, Terminated) else 2  # SIGINT
            err("terminated" if signum != 2 else "interrupted")
            raise typer.Exit(128 + signum) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        from velero_gitops.ops.versions import report

        out(report(), "document", nl=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the versions of the tool, of what it renders, and of sops and kubectl found; then exit."),
) -> None:
    """Render, encrypt and validate a FluxCD tree that deploys Velero (kopia file-system backups) to MinIO S3."""
