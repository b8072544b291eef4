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


# Patterns a file supplies (sops metadata, `.sops.yaml`, kustomize selectors): compile cost is bounded. RE2 compiles
# a Unicode class to a UTF-8 byte automaton: `\pL{300}` is ~360,000 instructions, 0.1 s and megabytes each (attack
# round 7, breaks 3 and 4); Go accepts it (golang/go@go1.23.0:src/regexp/syntax/parse.go checkSize allows 128 MiB
# of program), so it is a PatternCost, not a PatternError.
_HOSTILE = [r"(?i)[\pL\pN\pS\pP]{300}", r"\pL{300}|y{4}", r"(?i)[\pL\pN\pS\pP]{100}|z{1}"]
# what sops' README writes (getsops/sops@v3.10.2:README.rst) and the tree's own rules: valid, and within the bound
_SOPS_README = [r"^(data|stringData)$", r".*/development/.*", r"\.dev\.yaml$", "s3/*", ".*keygroups.*",
                r"^kubernetes/apps/.*\.sops\.ya?ml$", r"(?i)^(.*password.*|.*token.*)$", r"[^/]+\.ya?ml$"]


@pytest.mark.parametrize("pattern", _HOSTILE)
def test_a_costly_pattern_is_refused_within_re2s_memory_bound(pattern):
    """Unbounded, RE2 compiles it to more than PATTERN_INSTRUCTIONS (its own programsize says so); under
    PATTERN_MEMORY it stops there: a PatternCost that says how to write it, charged what it could compile."""
    import re2

    from velero_gitops.goregexp import PATTERN_INSTRUCTIONS, PatternCost, Programs

    unbounded = re2.Options()
    unbounded.max_mem = 64 << 20
    assert re2.compile(pattern, options=unbounded).programsize > PATTERN_INSTRUCTIONS
    programs = Programs()
    with pytest.raises(PatternCost, match=r"over 1 MiB of RE2 program .*`\+` or `\*` instead of `\{300\}`"):
        GoRegexp(pattern, programs)
    assert programs.spent == PATTERN_INSTRUCTIONS


@pytest.mark.parametrize("pattern", _SOPS_README)
def test_the_patterns_sops_documents_stay_valid(pattern):
    from velero_gitops.goregexp import Programs

    programs = Programs()
    GoRegexp(pattern, programs)
    assert programs.spent < 1000


def test_a_pattern_is_compiled_once_per_run_whatever_the_outcome():
    """Every document of a file may carry the same encrypted_regex: one compile per text, its error kept too."""
    from velero_gitops.goregexp import PatternCost, Programs

    programs = Programs()
    for _ in range(50):
        GoRegexp("^(data|stringData)$", programs)
        with pytest.raises(PatternError):
            GoRegexp("(?=x)", programs)
        with pytest.raises(PatternCost):
            GoRegexp(_HOSTILE[0], programs)
    assert programs.compiles == 3


def test_the_runs_patterns_share_one_budget():
    """Distinct costly patterns (break 3 gave each document its own) stop compiling once the run's budget is
    spent: the compile count stops growing, each later pattern is a PatternCost naming the run's bound."""
    from velero_gitops.goregexp import PATTERN_INSTRUCTIONS, PatternCost, Programs

    programs = Programs(budget=4 * PATTERN_INSTRUCTIONS)
    for i in range(40):
        with pytest.raises(PatternCost):
            GoRegexp(rf"\pL{{300}}|x{{{i + 1}}}", programs)
    assert programs.compiles == 4 and programs.spent == 4 * PATTERN_INSTRUCTIONS
    with pytest.raises(PatternCost, match="over the run's bound"):
        GoRegexp("^data$", programs)
    assert programs.compiles == 4


def test_a_command_is_one_run():
    """goregexp.run() (the CLI opens one per command) gives the run its own programs; outside, the process's."""
    from velero_gitops import goregexp

    with goregexp.run() as programs:
        GoRegexp("^run-scoped$")
        assert programs.compiles == 1
    with goregexp.run() as again:
        assert again.compiles == 0


def test_a_costly_ignore_pattern_in_the_config_is_a_located_config_error(tmp_path):
    """check.ignoreFilenamePatterns is the repository's too: over the bound, exit 2 on its file, line and field."""
    cfg = tmp_path / "velero-gitops.yaml"
    base = (EXAMPLE / "velero-gitops.yaml").read_text()
    cfg.write_text(base + "check:\n  ignoreFilenamePatterns: ['ok/', '\\pL{300}']\n")
    r = run_cli("check", "-c", str(cfg), cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    (line,) = r.err.splitlines()
    assert line.startswith(f"error: velero-gitops.yaml:{base.count(chr(10)) + 2}:35 check.ignoreFilenamePatterns[1]: "
                           "'\\\\pL{300}' is not evaluated, over 1 MiB of RE2 program"), line
