"""The CLI surface: entry points, help, and no tracebacks for user mistakes."""

import re
import subprocess

import pytest

from cli_util import run_cli


def test_module_and_console_script_entry_points():
    r = run_cli("--version")
    from velero_gitops import __version__
    from velero_gitops.config.model import VeleroConfig

    assert r.code == 0 and r.out.startswith(f"velero-gitops: {__version__}\n")
    velero = VeleroConfig()
    assert f"vmware-tanzu/velero {velero.chart_version} (Velero {velero.velero_version}" in r.out
    assert velero.aws_plugin_image in r.out
    assert re.search(r"^schema bundle: Kubernetes 1\.\d+\.\d+, \d+ kinds", r.out, re.M), r.out
    assert re.search(r"^sops: +3\.\d+\.\d+ \(", r.out, re.M) and re.search(r"^kubectl: +v1\.", r.out, re.M), r.out
    out = subprocess.run(["velero-gitops", "--version"], capture_output=True, text=True, check=True).stdout
    assert out == r.out


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from velero_gitops.cli import app

    root = get_command(app)
    out = []
    for name, cmd in root.commands.items():
        sub = getattr(cmd, "commands", None)
        out.extend([[name, s] for s in sub] if sub else [[name]])
    return out


def test_help_lists_the_commands():
    r = run_cli("--help")
    assert r.code == 0
    listed = re.findall(r"^  ([a-z][a-z0-9-]+)  ", r.out.split("Commands:", 1)[1], re.M)
    assert {"render", "encrypt-secret", "validate", "check", "config-schema"} <= set(listed), listed
    assert sorted(listed) == sorted({c[0] for c in _commands()})


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_is_whole_and_plain_at_80_columns(command):
    """Piped help at 80 columns names every option in full, with plain metavars (no <bool>, {arg}, list[str])."""
    from typer.main import get_command

    from velero_gitops.cli import app

    r = run_cli(*command, "--help", env={"COLUMNS": "80", "TERM": "dumb"})
    assert r.code == 0, r.err
    assert not re.search(r"<(bool|str|int|path|list)|\{[a-z_]+\}|list\[|…", r.out), r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert not re.search(r"(^|[\s,])-[a-z]{2,}", r.out, re.M), r.out  # a long option is spelled --name
    cmd = get_command(app)
    for part in command:
        cmd = cmd.commands[part]
    for param in cmd.params:
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            if opt.startswith("-") and not param.hidden:
                assert re.search(rf"(^|[\s,/]){re.escape(opt)}([\s,=/]|$)", r.out, re.M), (opt, r.out)


@pytest.mark.parametrize("spelling", [["-schema-location", "default"], ["-schema-location=default"],
                                      ["--schema-location", "default"]])
def test_kubeconform_one_dash_spellings_still_work(tmp_path, spelling):
    """kubeconform's `-schema-location`/`-ignore-filename-pattern` are accepted, though help shows `--` only."""
    (tmp_path / "talos").mkdir()
    (tmp_path / "talos" / "x.yaml").write_text("not: kubernetes\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n")
    r = run_cli("validate", str(tmp_path), *spelling, "-ignore-filename-pattern", "talos/", "--no-flux")
    assert r.code == 0 and "1 passed" in r.out, r.out + r.err
    from velero_gitops.cli import kubeconform_aliases

    assert kubeconform_aliases(["validate", "--", "-schema-location"]) == ["validate", "--", "-schema-location"]


def test_unknown_option_is_a_usage_error():
    r = run_cli("render", "--frobnicate")
    assert r.code == 2 and "Traceback" not in r.err


def test_no_config_found(tmp_path):
    r = run_cli("render", cwd=tmp_path)
    assert r.code == 2 and "--config" in r.err and "Traceback" not in r.err


def test_render_summary_names_each_config_by_its_path(tmp_path):
    import shutil

    from cli_util import REPO

    shutil.copytree(REPO / "clusters", tmp_path / "clusters")
    r = run_cli("render", "clusters/home-lab/velero-gitops.yaml", "clusters/lab-two/velero-gitops.yaml", cwd=tmp_path)
    assert r.code == 0, r.err
    summaries = [line.split(":")[0] for line in r.out.splitlines() if " unchanged" in line]
    assert summaries == ["clusters/home-lab/velero-gitops.yaml", "clusters/lab-two/velero-gitops.yaml"], r.out


def test_check_help_states_the_default_it_uses(tmp_path):
    """`check` with no config takes ./velero-gitops.yaml first (cli/_configs.default_configs); the help says so."""
    r = run_cli("check", "--help", env={"COLUMNS": "200"})
    assert "default:./velero-gitops.yaml,elseeveryclusters/*/velero-gitops.yaml" in "".join(r.out.split())
    here = tmp_path / "velero-gitops.yaml"
    here.write_text("cluster: x\ns3:\n  endpoint: 'unclosed\n")
    (tmp_path / "clusters" / "a").mkdir(parents=True)
    (tmp_path / "clusters" / "a" / "velero-gitops.yaml").write_text("cluster: a\n")
    r = run_cli("check", cwd=tmp_path)
    assert r.code == 2 and "velero-gitops.yaml:3" in r.err and "clusters/a" not in r.err


# Every command that reads one config takes it the same two ways: `[CONFIG]` or `--config FILE`.
ONE_CONFIG = [["explain"], ["encrypt-secret"], ["encrypt-repo-password"], ["sops-init"], ["s3", "check"],
              ["s3", "ensure-bucket"], ["s3", "policy"]]


@pytest.mark.parametrize("command", ONE_CONFIG, ids=[" ".join(c) for c in ONE_CONFIG])
def test_one_config_convention(tmp_path, command):
    """A config named positionally is read like --config (here a broken one: its located error proves it was read),
    and naming two different ones is a usage error."""
    bad = tmp_path / "velero-gitops.yaml"
    bad.write_text("cluster: x\ns3:\n  endpoint: 'https://s3.example.org\n")
    for args in ([str(bad)], ["--config", str(bad)]):
        r = run_cli(*command, *args, cwd=tmp_path)
        assert r.code == 2 and "velero-gitops.yaml:3:13" in r.err, (command, args, r.err)
    other = tmp_path / "other.yaml"
    other.write_text("cluster: y\n")
    r = run_cli(*command, str(bad), "--config", str(other), cwd=tmp_path)
    assert r.code == 2 and "name the config once" in r.err, r.err
    assert "[CONFIG]" in run_cli(*command, "--help").out


PIPED = [  # every command whose output does not need a secret, a server or a key, on the committed example
    ["--version"], ["explain"], ["render", "--check"], ["check", "--no-cache"], ["validate", "kubernetes"],
    ["backup-manifest", "b", "--include-namespaces", "apps"], ["restore-manifest", "r", "--from-backup", "b"],
    ["s3", "policy"], ["config-reference"], ["config-schema"], ["sops-init", "--age", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"],
]


@pytest.mark.parametrize("command", PIPED, ids=" ".join)
def test_piped_output_at_80_columns_is_plain(command, tmp_path):
    """stdout a pipe and COLUMNS=80: no box drawing, no terminal control sequences, and a table row or a message
    is not cut into lines to fit the terminal (tables become tab-separated rows)."""
    import shutil

    from cli_util import EXAMPLE

    repo = tmp_path / "home-lab"
    shutil.copytree(EXAMPLE, repo)
    r = run_cli(*command, cwd=repo, env={"COLUMNS": "80", "VELERO_GITOPS_NO_CACHE": "1"})
    assert r.code in (0, 1), r.err
    assert not re.search("[\u2500-\u257f]|\x1b\\[", r.out), r.out[:2000]
    wide = run_cli(*command, cwd=repo, env={"COLUMNS": "200", "VELERO_GITOPS_NO_CACHE": "1"})
    assert wide.out == r.out, "piped output depends on the terminal width"


def test_progress_line_on_a_terminal_only(tmp_path):
    """check on a terminal shows a status line on stderr while it works; the same run piped shows none."""
    import os
    import pty
    import sys

    from cli_util import EXAMPLE

    master, slave = pty.openpty()
    env = {**os.environ, "VELERO_GITOPS_NO_CACHE": "1", "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "velero_gitops", "check"], cwd=EXAMPLE, env=env, stdout=subprocess.PIPE,
                          stderr=slave, timeout=300)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0 and b"checking velero-gitops.yaml ..." in seen, seen[:500]
    assert b"checking" not in proc.stdout
    piped = run_cli("check", cwd=EXAMPLE, env={"VELERO_GITOPS_NO_CACHE": "1"})
    assert piped.code == 0 and "checking" not in piped.err


# A signal at a known point of the run, delivered for real (os.kill of the process itself): the driver wraps one
# function of the package so that it signals the process when called, then runs the CLI's main().
_DRIVER = """
import os, sys
point, sig = sys.argv[1], int(sys.argv[2])
sys.argv = ["velero-gitops", *sys.argv[3:]]
def hit(f, after=1):
    calls = []
    def wrapped(*a, **k):
        calls.append(1)
        if len(calls) == after:
            os.kill(os.getpid(), sig)
        return f(*a, **k)
    return wrapped
if point == "outside-app":  # before click runs: the YAML budget is entered around app()
    import velero_gitops.cli as c
    c.kubeconform_aliases = hit(c.kubeconform_aliases)
elif point == "while-parsing":  # an eager option's callback: inside click, outside the command's handler
    import velero_gitops.ops.versions as v
    v.report = hit(v.report)
elif point == "mid-write":  # render has replaced one file of the tree and has more to write
    os.replace = hit(os.replace, after=2)
from velero_gitops.cli import main
main()
"""


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGTERM", "SIGINT"])
@pytest.mark.parametrize("point", ["outside-app", "while-parsing"])
def test_a_signal_anywhere_exits_128_plus_its_number(tmp_path, point, sig):
    """A shell reports a process killed by signal N as 128+N, and so must a run that unwinds on it (clean-up
    included). Outside the command's handler the attacker saw 130 for SIGHUP: Python re-raises an uncaught
    KeyboardInterrupt as SIGINT, and click turns one into Abort (exit 1)."""
    import signal
    import sys

    args = ["--version"] if point == "while-parsing" else ["rules"]
    p = subprocess.run([sys.executable, "-c", _DRIVER, point, str(int(getattr(signal, sig))), *args],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 128 + int(getattr(signal, sig)), (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGTERM"])
def test_a_signal_mid_render_leaves_the_tree_as_it_was(tmp_path, sig):
    """render's write is atomic: a signal after the first file was replaced rolls every file back."""
    import shutil
    import signal
    import sys

    from cli_util import REPO

    root = tmp_path / "repo"
    shutil.copytree(REPO / "tests/golden/minimal", root)
    (root / ".git").mkdir()
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(cfg.read_text() + "flux:\n  interval: 17m\n")  # ks.yaml, the HelmRelease and the DR file change
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    p = subprocess.run([sys.executable, "-c", _DRIVER, "mid-write", str(int(getattr(signal, sig))), "render"],
                       capture_output=True, text=True, cwd=root)
    assert p.returncode == 128 + int(getattr(signal, sig)), (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
