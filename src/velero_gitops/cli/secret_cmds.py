"""`velero-gitops encrypt-secret` and `velero-gitops sops-init` (see docs/secrets.md).

Credentials are never accepted as arguments (they would show in `ps` and shell history): only
from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --stdin, or a hidden prompt.
"""

from __future__ import annotations

from pathlib import Path

import typer

from velero_gitops.cli._app import app, err, handle_errors, out
from velero_gitops.cli._configs import named_once, one_config


@app.command("encrypt-secret")
@handle_errors
def encrypt_secret(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help="Config file (velero-gitops.yaml)."),
    stdin: bool = typer.Option(
        False, "--stdin",
        help="Read the credentials from standard input: two lines (access key ID, then secret key), "
        "or AWS_ACCESS_KEY_ID=/AWS_SECRET_ACCESS_KEY= lines, or an AWS credentials file.",
    ),
    age: list[str] | None = typer.Option(
        None, "--age", help="age recipient to encrypt for (repeatable); default: the .sops.yaml creation rule.",
    ),
    update_keys: bool = typer.Option(
        False, "--update-keys",
        help="Re-encrypt the existing secret for the current .sops.yaml recipients (sops updatekeys); no credentials needed.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print problems."),
) -> None:
    """Encrypt the S3 credentials into the app's secret.sops.yaml with sops/age (plaintext never touches disk).

    Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, from --stdin, or from a hidden prompt on a terminal; never from arguments or the config file.
    """
    from velero_gitops.config.loader import load
    from velero_gitops.errors import UsageError
    from velero_gitops.secrets import secret as secretlib
    from velero_gitops.secrets.credentials import read_credentials

    if update_keys and (stdin or age):
        raise UsageError("--update-keys takes no credentials and no --age: it uses the .sops.yaml recipients")
    loaded = load(one_config(named_once(config_arg, config)))
    secretlib.require_made_here(loaded)
    if update_keys:
        result = secretlib.update_keys(loaded)
        if not quiet:
            p = result.plan
            out(
                f"updated keys of {p.shown}: encrypted for {len(p.recipients)} age recipient(s) from "
                f"{p.recipients_source} (sops {p.sops.version_text}); commit it"
            )
        return
    # Everything that can fail without the credentials is checked before asking for them.
    p = secretlib.encryption_plan(loaded, age=age or ())
    if p.needs:
        err(f"note: {p.needs}")
    creds, source = read_credentials(use_stdin=stdin)
    result = secretlib.encrypt_secret(loaded, creds, p=p)
    if not quiet:
        verb = "replaced" if result.replaced else "wrote"
        out(
            f"{verb} {p.shown}: Secret {p.namespace}/{p.name} (key cloud, credentials from {source}) encrypted for "
            f"{len(p.recipients)} age recipient(s) from {p.recipients_source} (sops {p.sops.version_text}, "
            f"{result.seconds:.2f}s)"
        )
        out(f"next: git add {p.shown} && git commit")


@app.command("encrypt-repo-password")
@handle_errors
def encrypt_repo_password(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help="Config file (velero-gitops.yaml)."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the password (one line) from standard input instead of generating one."),
    check_bucket: bool = typer.Option(
        False, "--check-bucket",
        help="List <prefix>/kopia/ in the bucket first and refuse a new password when kopia repositories exist.",
    ),
    replace: bool = typer.Option(
        False, "--replace",
        help="Replace an existing repository password (only with --stdin, after changing it in every repository with kopia).",
    ),
    age: list[str] | None = typer.Option(None, "--age", help="age recipient to encrypt for (repeatable); default: the .sops.yaml creation rule."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print problems."),
) -> None:
    """Encrypt the kopia repository password into the app's repo-credentials.sops.yaml (Secret velero-repo-credentials).

    Default: a random 256-bit password, never shown. A repository opens only with the password it was created with: read docs/secrets.md before using this where Velero already made backups.
    """
    from velero_gitops.config.loader import load
    from velero_gitops.ops import s3
    from velero_gitops.secrets import repo_password as rp

    loaded = load(one_config(named_once(config_arg, config)))
    p = rp.encryption_plan(loaded, age=age or ())
    if p.needs:
        err(f"note: {p.needs}")
    rp.refuse_replacing(p, replace=replace, use_stdin=stdin)
    namespaces = s3.kopia_namespaces(loaded) if check_bucket else None
    password = rp.read_password(use_stdin=stdin)
    if namespaces is not None:
        rp.refuse_existing_data(loaded, namespaces, password, s3.kopia_prefix(loaded))
    elif not replace:  # with --replace the password was already changed in the repositories
        err(rp.UNCHECKED_WARNING.format(bucket=loaded.config.s3.bucket, prefix=s3.kopia_prefix(loaded)))
    for w in rp.warnings_for(password):
        err(f"warning: {w}")
    result = rp.encrypt(p, password)
    if not quiet:
        checked = ("" if namespaces is None else
                   f"; the bucket has no kopia data under {s3.kopia_prefix(loaded)}" if not namespaces else
                   f"; kopia repositories found for {len(namespaces)} namespace(s), kept their password")
        out(
            f"{'replaced' if result.replaced else 'wrote'} {p.shown}: Secret {p.namespace}/{p.name} (key {p.key}, "
            f"{'a random 256-bit password' if password.source == 'generated' else 'password from standard input'}) "
            f"encrypted for {len(p.recipients)} age recipient(s) from {p.recipients_source} "
            f"(sops {p.sops.version_text}, {result.seconds:.2f}s){checked}"
        )
        out(f"next: git add {p.shown} && git commit; the password exists only there: keep the age key safe")


@app.command("sops-init")
@handle_errors
def sops_init(
    config_arg: Path | None = typer.Argument(None, metavar="[CONFIG]", help="Config file (same as --config).", show_default=False),
    config: Path | None = typer.Option(None, "--config", "-c", help="Config file (velero-gitops.yaml)."),
    age: list[str] | None = typer.Option(None, "--age", help="age recipient (repeatable). Default: sops.ageRecipients, the generated or existing key."),
    generate_key: bool = typer.Option(
        False, "--generate-key",
        help="Create an age key at $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt (mode 0600) unless one exists.",
    ),
) -> None:
    """Write the .sops.yaml creation rule for the tree (never overwrites; shows the rule to add instead).

    Exit 0 when a rule for the secret is in place, 1 when an existing .sops.yaml needs the rule shown.
    """
    from velero_gitops.config.loader import display, load
    from velero_gitops.secrets import sops_init as initlib

    loaded = load(one_config(named_once(config_arg, config)))
    result = initlib.init(loaded, age=age or (), generate=generate_key)
    if result.key is not None:
        k = result.key
        if k.created:
            err(f"created age key {k.path} (mode 0600): back it up; never commit it")
            err(initlib.flux_key_hint(loaded.config, k.path))
        else:
            err(f"an age key already exists at {k.path}; kept it (not overwritten)")
        out(f"age public key: {k.public_key}")
    shown = display(result.config_file)
    if result.written:
        out(f"wrote {shown} for {len(result.recipients)} age recipient(s): {', '.join(result.recipients)}")
        return
    if result.covered_by is not None:
        out(
            f"{shown} exists and creation_rules[{result.covered_by}] already covers the secret for "
            f"{', '.join(result.recipients)}; nothing to do"
        )
        return
    if result.matched_by is not None:
        err(
            f"{shown} exists and creation_rules[{result.matched_by}] matches the secret but lacks some of "
            f"{', '.join(result.recipients)}; not touching the file. Edit that rule or put this one before it:"
        )
    else:
        err(f"{shown} exists and no rule matches the secret; not touching the file. Add this rule under creation_rules (before any catch-all rule):")
    out(result.rule_text, "document", nl=False)
    raise typer.Exit(1)
