"""Exceptions the core raises; the CLI maps them to exit codes (see cli/_app.py).

ConfigError and UsageError are user mistakes: exit 2, one clear message, no traceback.
"""

from __future__ import annotations


class VeleroGitopsError(Exception):
    """Base class for errors that are reported to the user without a traceback."""

    exit_code = 2


class UsageError(VeleroGitopsError):
    """Wrong command-line use, a missing tool or an environment problem (exit 2)."""


class ConfigError(VeleroGitopsError):
    """One or more located problems in a config file (exit 2).

    ``problems`` holds lines already formatted as ``FILE:LINE:COL dotted.path: message``.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class WriteRefused(VeleroGitopsError):
    """The write step refused to touch a file (edited by hand, not ours...). Exit 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a command (cli.main): unwinds like Ctrl-C, so every ``finally`` and ``with`` runs
    (a kustomize build's mirror of the repository is removed, a write rolls back). Python's default action for
    these signals ends the process without unwinding."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
