"""Filename patterns as kubeconform reads them: Go's regexp (RE2), searched in the path, linear in time.

kubeconform: ``regexp.MatchString(p, path)`` for each -ignore-filename-pattern
(yannh/kubeconform@v0.7.0:pkg/resource/files.go); Go's regexp is RE2 syntax and guarantees time linear in the
input (golang/go regexp package documentation). Probe 52 (B6): ``(a+)+$`` against a folder ``a…a!`` took 8 CPU
seconds at 24 letters and over 120 s at 40 with Python's backtracking ``re``.
"""

from __future__ import annotations

import re
import time

import pytest

from velero_gitops.goregexp import GoRegexp, PatternError, matcher

from cli_util import EXAMPLE, run_cli


@pytest.mark.parametrize(("pattern", "path", "found"), [
    ("talos/", "kubernetes/talos/x.yaml", True),  # searched, not anchored
    ("^talos/", "kubernetes/talos/x.yaml", False),
    (r"(^|/)velero-gitops\.ya?ml$", "clusters/a/velero-gitops.yml", True),
    (r"\.sops\.ya?ml$", "a.sops.yaml.bak", False),
    ("(?i)TASKFILE", "Taskfile.yaml", True),  # Go's inline flags
    ("bad.*yaml", "x/bad\udcff.yaml", True),  # a name that is not UTF-8 is matched as its bytes
])
def test_patterns_are_searched_like_go_match_string(pattern, path, found):
    assert GoRegexp(pattern).found(path) is found


@pytest.mark.parametrize("pattern", [r"(?=x)", r"(?!x)", r"(a)\1", r"(?<=a)b", "a{1001}", "(", "a**"])
def test_what_go_regexp_compile_rejects_is_refused(pattern):
    """Lookaround and backreferences are not RE2; a repeat over 1000 and broken syntax neither."""
    with pytest.raises(PatternError):
        GoRegexp(pattern)


def test_a_catastrophic_pattern_costs_one_pass():
    """(a+)+$ on 5,000 letters and a `!`: microseconds with RE2 (backtracking would never end)."""
    ignored = matcher([r"(a+)+$"])
    path = "kubernetes/apps/" + "a" * 5000 + "!/x"
    start = time.process_time()
    assert not ignored(path)
    assert time.process_time() - start < 1.0


def test_a_pattern_re2_rejects_is_a_located_config_error(tmp_path):
    """check.ignoreFilenamePatterns in the config: exit 2 with file, line, field and what RE2 found; RE2 writes
    nothing of its own to stderr."""
    cfg = tmp_path / "velero-gitops.yaml"
    base = (EXAMPLE / "velero-gitops.yaml").read_text()
    cfg.write_text(base + "check:\n  ignoreFilenamePatterns: ['ok/', '(?=x)']\n")
    at = f"{base.count(chr(10)) + 2}:35"  # the line after `check:`, the column of the second pattern
    r = run_cli("check", "-c", str(cfg), cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    (line,) = r.err.splitlines()
    assert line.startswith(f"error: velero-gitops.yaml:{at} check.ignoreFilenamePatterns[1]: '(?=x)' is not a regular "
                           "expression kubeconform accepts: invalid perl operator: (?="), line


def test_a_pattern_re2_rejects_on_the_command_line_is_a_usage_error(tmp_path):
    r = run_cli("validate", "--ignore-filename-pattern", r"(a)\1", str(tmp_path))
    assert r.code == 2 and r.err.startswith("error: --ignore-filename-pattern: invalid regular expression: "), r.err
    assert len(r.err.splitlines()) == 1


def _module_patterns() -> list[tuple[str, str, re.Pattern]]:
    import importlib
    import pkgutil

    import velero_gitops

    found = []
    for info in pkgutil.walk_packages(velero_gitops.__path__, "velero_gitops."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [(info.name, k, v) for k, v in vars(module).items() if isinstance(v, re.Pattern)]
    return found


def test_every_python_regex_of_the_package_is_linear_on_long_runs():
    """Attack round 2 found Python-`re` patterns quadratic on a pull request's text (a PEM value, a refused file), and
    a probe of every module-level pattern then found eleven more (Flux durations, image references, `releases:`
    lines, redaction): 20,000 characters cost up to 22 CPU seconds. Those are RE2 now (goregexp.linear). Each
    pattern still compiled by Python's engine is run on 20,000-character runs of single characters and of its own
    literal fragments (the attacker's shape: one construct repeated); each must stay within a CPU budget."""
    from cli_util import cpu_budget

    patterns = _module_patterns()
    assert len(patterns) > 20  # the walk found the package's patterns
    for _name, _attr, pattern in patterns:
        source = pattern.pattern if isinstance(pattern.pattern, str) else pattern.pattern.decode("latin-1")
        pieces = [" ", "\n", " \n", "a", "-", "#", ":", "{", "$", "\t", "0", "aa ", "\\"]
        pieces += sorted(set(re.findall(r"[A-Za-z:#\-{}$\[\]<>@.=/ ]{1,6}", source)))[:20]
        with cpu_budget(2):
            for piece in pieces:
                text = (piece * (20000 // len(piece)))[:20000]
                subject = text if isinstance(pattern.pattern, str) else text.encode("latin-1", "replace")
                pattern.search(subject)
                pattern.findall(subject)
