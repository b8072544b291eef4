"""The CLI surface: entry points, help, and no tracebacks for user mistakes."""

import subprocess

from cli_util import run_cli


def test_module_and_console_script_entry_points():
    r = run_cli("--version")
    assert r.code == 0 and r.out.startswith("velero-gitops ")
    out = subprocess.run(["velero-gitops", "--version"], capture_output=True, text=True, check=True).stdout
    assert out == r.out


def test_help_lists_the_commands():
    r = run_cli("--help")
    assert r.code == 0
    for cmd in ("render", "encrypt-secret", "validate", "check"):
        assert cmd in r.out


def test_unknown_option_is_a_usage_error():
    r = run_cli("render", "--frobnicate")
    assert r.code == 2 and "Traceback" not in r.err


def test_no_config_found(tmp_path):
    r = run_cli("render", cwd=tmp_path)
    assert r.code == 2 and "--config" in r.err and "Traceback" not in r.err
