"""`velero-gitops s3 check | ensure-bucket | policy`: the bucket Velero writes to.

Exit codes: 0 every check holds, 1 a check failed, a different policy was left alone or the server
misbehaved (deadline passed, oversized answer, redirect), 2 usage or config errors (also: the `s3`
extra is not installed). Credentials are never printed: only where they came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from velero_gitops.cli._app import Output, app, err, handle_errors, out, out_json
from velero_gitops.cli._configs import CONFIG_HELP, named_once, one_config

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.ops.s3 import Report, Target

s3_app = typer.Typer(
    name="s3",
    help="Check the S3 (MinIO) bucket over HTTPS, create it with an HTTPS-only policy, print the Velero user's policy.",
    no_args_is_help=True,
)
app.add_typer(s3_app, name="s3")


TIMEOUT_HELP = "Seconds to wait for a connection and for each answer (two attempts at most)."
DEADLINE_HELP = "Seconds the whole command may take, whatever the server does."


def _setup(config: Path | None, needs_client: str | None = None) -> tuple[LoadedConfig, Target]:
    from velero_gitops.config.loader import load
    from velero_gitops.ops import s3

    if needs_client:
        s3.require_client(needs_client)  # before anything else: one line, no traceback

    loaded = load(one_config(config))
    target = s3.Target.of(loaded)
    return loaded, target


_STYLE = {"ok": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def _report(report: Report, output: Output, title: str) -> None:
    """Show the report; exit 1 when a check failed."""
    _print_report(report, output, title)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Report, output: Output, title: str) -> None:
    if output is Output.json:
        out_json(report.as_dict())
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from velero_gitops.shown import esc

    # every string may come from the server (keys, prefixes, headers): one escaped line each, never a line
    # break, carriage return or escape sequence of its own
    console = Console()
    t = report.target
    heading = f"{title}: {t.endpoint} bucket {t.bucket}" + (f" prefix {t.prefix}/" if t.prefix else "")
    footer = f"credentials: {report.credentials_source}; {report.elapsed:.1f}s"
    if not console.is_terminal:  # a pipe: one line per action and per check, tab-separated, nothing drawn or wrapped
        diff = report.policy_diff.rstrip("\n").split("\n") if report.policy_diff else []
        lines = [f"- {esc(a)}" for a in report.actions] + [esc(d) for d in diff]
        lines += [esc(heading), "check\tresult\tdetail"] + [f"{esc(c.name)}\t{c.status.upper()}\t{esc(c.detail)}"
                                                           for c in report.checks]
        out("\n".join([*lines, footer]), "document")  # each field escaped above; tabs and diff markers are the format's
        return
    for action in report.actions:
        console.print(Text(f"- {esc(action)}"))
    if report.policy_diff:
        for line in report.policy_diff.rstrip("\n").split("\n"):
            console.print(Text(esc(line)))
    table = Table(title=Text(esc(heading)), title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        table.add_row(Text(esc(c.name)), Text(c.status.upper(), style=_STYLE.get(c.status, "")), Text(esc(c.detail)))
    console.print(table)
    console.print(Text(footer))


@s3_app.command("check")
@handle_errors
def check_cmd(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table or json."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.5, max=120, help=TIMEOUT_HELP),
    deadline: float = typer.Option(30.0, "--deadline", min=1, max=600, help=DEADLINE_HELP),
) -> None:
    """TLS and certificate, credentials, bucket, a probe object write/read/delete, the HTTPS-only policy."""
    from velero_gitops.ops import s3
    from velero_gitops.secrets import credentials

    loaded, target = _setup(named_once(config_arg, config), "s3 check")
    creds = credentials.for_s3(loaded)
    report = s3.check(target, creds, timeout=timeout, deadline_s=deadline)
    _report(report, output, "s3 check")


@s3_app.command("ensure-bucket")
@handle_errors
def ensure_bucket_cmd(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    tls_policy: bool = typer.Option(True, "--tls-policy/--no-tls-policy",
                                    help="Apply a bucket policy that denies requests without TLS (aws:SecureTransport false)."),
    force: bool = typer.Option(False, "--force", help="Add the TLS-only statement to a bucket that already has a different policy (its other statements are kept)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what would be done."),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table or json."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.5, max=120, help=TIMEOUT_HELP),
    deadline: float = typer.Option(30.0, "--deadline", min=1, max=600, help=DEADLINE_HELP),
) -> None:
    """Create the bucket when missing (idempotent), apply the HTTPS-only policy, then run every check.

    Never deletes or overwrites objects. An existing different policy is left alone unless --force;
    the diff is shown either way.
    """
    from velero_gitops.ops import s3
    from velero_gitops.secrets import credentials

    loaded, target = _setup(named_once(config_arg, config), "s3 ensure-bucket")
    creds = credentials.for_s3(loaded)
    report = s3.ensure_bucket(target, creds, tls_policy=tls_policy, force=force, dry_run=dry_run, timeout=timeout,
                              deadline_s=deadline)
    _report(report, output, "s3 ensure-bucket" + (" (dry run)" if dry_run else ""))


@s3_app.command("policy")
@handle_errors
def policy_cmd(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    user: str = typer.Option("velero", "--user", help="MinIO user name for Velero."),
    policy_name: str | None = typer.Option(None, "--policy-name", help="Policy name (default: <bucket>-velero)."),
    output: Output = typer.Option(
        Output.table, "--output", "-o",
        help="table: the policy JSON on stdout (`s3 policy > policy.json`), the mc commands on stderr; "
        "json: name, user, policy and commands as one JSON object."),
    bucket_policy: bool = typer.Option(False, "--bucket-policy", help="Print the HTTPS-only bucket policy instead."),
) -> None:
    """The least-privilege policy for the Velero user (this bucket only); the `mc` commands to set it up on stderr."""
    from velero_gitops.ops import s3

    loaded, target = _setup(named_once(config_arg, config))
    if bucket_policy:
        out_json(s3.bucket_policy(target.bucket))
        return
    name = policy_name or f"{target.bucket}-velero"
    doc = s3.user_policy(target.bucket)
    file = f"{name}.json"
    commands = s3.mc_commands(target, user, name, file, config=loaded.path.as_posix())
    if output is Output.json:
        out_json({"policyName": name, "user": user, "policy": doc,
                  "commands": [c for c in commands if not c.startswith("#")]})
        return
    # stdout is the policy alone, so a redirect makes the file that `mc admin policy create` reads
    out_json(doc)
    err(f"# the policy on stdout: least privilege for the Velero user on bucket {target.bucket} "
        f"(objects get/put/delete, list, multipart; no other bucket, no admin); save it as {file}")
    err("\n".join(commands))
    err("note: the secret key goes into the SOPS-encrypted Secret (velero-gitops encrypt-secret), never into Git in clear")
