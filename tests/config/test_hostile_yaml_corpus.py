"""Hostile YAML and special files through the real CLI: `render CONFIG` and `validate DIR`.

Every case, by category (aliases, depth, size, encoding, tags, anchors, merge keys, collection keys,
special files):
- render: exit 2, exactly one `FILE:LINE:COL path: message` line (or `FILE: message` for a file that
  was not read at all), no traceback, nothing written;
- validate: exit 1, exactly one finding on the hostile file, no traceback;
- both within 5 s (an alias bomb or a FIFO used to take minutes or hang).

Go YAML (what Kubernetes and Flux decode with) accepts `op: =` and re-defined anchors, and lets `<<`
merged keys be overridden: those are accept cases (go-yaml/yaml@v3: resolve.go, decode.go).
"""

from __future__ import annotations

import codecs
import os
import re

import pytest

from velero_gitops.yamlsafe import CONFIG_SIZE_LIMIT

from cli_util import run_cli, snapshot
from test_loader import BASE

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\n"
DEADLINE = 5.0


def _bomb(levels: int, width: int, seq: bool = True, indent: str = "") -> str:
    """The classic billion laughs: level i holds ``width`` aliases of level i-1."""
    names = [f"l{i}" for i in range(levels + 1)]
    out = [f"{indent}{names[0]}: &{names[0]} " + ("[" + ",".join(['"lol"'] * width) + "]" if seq else "{a: lol}")]
    for i in range(1, levels + 1):
        items = [f"*{names[i - 1]}"] * width
        body = "[" + ", ".join(items) + "]" if seq else "{" + ", ".join(f"k{j}: {a}" for j, a in enumerate(items)) + "}"
        out.append(f"{indent}{names[i]}: &{names[i]} {body}")
    return "\n".join(out) + "\n"


def _block_list(depth: int, indent: str = "") -> str:
    return "".join(f"{indent}{'  ' * i}-\n" for i in range(depth)) + f"{indent}{'  ' * depth}x\n"


def _block_map(depth: int, indent: str = "") -> str:
    return "".join(f"{indent}{' ' * i}k:\n" for i in range(depth)) + f"{indent}{' ' * depth}x: 1\n"


# (id, YAML fragment placed under a key, words expected in the message)
def _fragments() -> list[tuple[str, str | bytes, str]]:
    cases: list[tuple[str, str | bytes, str]] = []
    # aliases: billion laughs of many shapes, all far beyond the budget, and small ones that stay under it
    for levels, width in ((4, 12), (5, 9), (6, 6), (9, 9), (12, 3), (20, 2), (30, 2)):
        cases.append((f"alias-seq-{levels}x{width}", _bomb(levels, width), "alias"))
    for levels, width in ((5, 9), (9, 9), (20, 2)):
        cases.append((f"alias-map-{levels}x{width}", _bomb(levels, width, seq=False), "alias"))
    cases.append(("alias-quadratic", "a: &a [" + ",".join(["x"] * 200) + "]\nb: [" + ",".join(["*a"] * 200) + "]\n", "alias"))
    # the same bomb with its anchors on list items, behind merge keys and as mapping keys
    cases.append(("alias-items", "a:\n- &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(f"- &{c} [" + ",".join([f"*{p}"] * 10) + "]\n"
                                                                   for p, c in zip("abcdefg", "bcdefgh")), "alias"))
    cases.append(("alias-merge-chain", "a0: &a0 {k: [1,1,1,1,1,1,1,1]}\n" + "".join(
        f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 8) + f"], k{i}: [" + ", ".join([f"*a{i - 1}"] * 8) + "]}\n"
        for i in range(1, 8)), "alias"))
    cases.append(("alias-as-keys", "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n"
                                                                             for p, c in zip("abcde", "bcdef")) + "? *f\n: 1\n", "alias"))
    cases.append(("alias-in-flow-map", "a: {x: &a [1,1,1,1,1,1,1,1,1,1], " + ", ".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]" for p, c in zip("abcde", "bcdef")) + "}\n", "alias"))
    cases.append(("alias-deep-doc", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefghi", "bcdefghij")), "alias"))
    cases.append(("alias-undefined", "a: *nowhere\n", "no anchor"))
    cases.append(("alias-before-anchor", "a: *x\nb: &x 1\n", "no anchor"))
    cases.append(("alias-self", "a: &s [1, *s]\n", "no anchor"))
    cases.append(("alias-self-map", "a: &s {b: *s}\n", "no anchor"))
    # depth: flow lists and maps, block lists and maps, compact `- - -`, mixed
    for d in (101, 150, 260, 1000, 10_000, 200_000):
        cases.append((f"depth-flow-list-{d}", "a: " + "[" * d + "]" * d + "\n", "nesting"))
    for d in (101, 1000, 10_000):
        cases.append((f"depth-flow-map-{d}", "a: " + "{a: " * d + "1" + "}" * d + "\n", "nesting"))
    for d in (101, 400, 1001):
        cases.append((f"depth-block-list-{d}", "a:\n" + _block_list(d, "  "), "nesting"))
    for d in (101, 400, 1500):
        cases.append((f"depth-block-map-{d}", "a:\n" + _block_map(d, "  "), "nesting"))
    for d in (120, 1000, 100_000):
        cases.append((f"depth-compact-seq-{d}", "a:\n  " + "- " * d + "x\n", "nesting"))
    cases.append(("depth-mixed", "a:\n" + "".join(f"  {'  ' * i}-\n" for i in range(60)) + "  " * 61 + "[" * 60 + "]" * 60 + "\n", "nesting"))
    cases.append(("depth-flow-unclosed", "a: " + "[" * 5000 + "\n", "nesting"))
    cases.append(("depth-through-alias", "a: &d " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*d" + "]" * 50 + "\n", "nesting"))
    # encoding: NUL and other control characters, invalid UTF-8 and binary data
    for name, ch in (("nul", "\x00"), ("soh", "\x01"), ("bel", "\x07"), ("esc", "\x1b"), ("del-c1", "\x80"), ("ff-fe", "\ufffe")):
        cases.append((f"control-{name}-plain", f"a: x{ch}y\n", "control character"))
        cases.append((f"control-{name}-quoted", f'a: "x{ch}y"\n', "control character"))
    for code in (2, 3, 4, 5, 6, 8, 0x0B, 0x0C, 0x0E, 0x1F):
        cases.append((f"control-{code:02x}", f"a: x{chr(code)}\n", "control character"))
    cases.append(("control-nul-in-key", "k\x00ey: 1\n", "control character"))
    cases.append(("control-nul-in-comment", "a: 1 # \x00\n", "control character"))
    for name, raw in (("ff", b"\xff"), ("lone-continuation", b"\x80"), ("truncated", b"\xc3"), ("overlong", b"\xc0\xaf"),
                      ("surrogate", b"\xed\xa0\x80"), ("beyond-unicode", b"\xf5\x80\x80\x80"), ("latin1", "café".encode("latin-1")),
                      ("binary-gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00")):
        cases.append((f"utf8-{name}", b"a: " + raw + b"\n", "UTF-8"))
    # a UTF-16 BOM is UTF-16 to Go YAML (kubernetes-sigs/yaml@v1.4.0:goyaml.v3/readerc.go), which refuses a lone
    # surrogate ("expected low surrogate area")
    cases.append(("utf16-lone-surrogate", codecs.BOM_UTF16_LE + "a: ".encode("utf-16-le") + b"\x00\xd8", "UTF-16"))
    # tags: only standard YAML tags
    for tag in ("!!python/object/apply:os.system [id]", "!!python/name:os.system ''", "!!python/object:builtins.dict {}",
                "!custom value", "!<tag:example.com,2024:x> v", "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1]",
                "!!python/tuple [1, 2]", "!!js/function 'x'", "!!python/module:os ''", "!!python/bytes 'eA=='",
                "!ruby/object {}", "!!java.util.Date x", "!Ref x"):
        cases.append((f"tag-{re.sub(r'[^a-z]+', '-', tag.split()[0].lower()).strip('-')}", f"a: [1, {tag}]\n", "tag"))
    cases.append(("tag-local-on-seq", "a: !mytag [1]\n", "tag"))
    cases.append(("tag-local-on-map", "a: !mytag {b: 1}\n", "tag"))
    cases.append(("tag-on-key", "? !!python/name:os.system k\n: 1\n", "tag"))
    for tag, value in (("!!int", "abc"), ("!!float", "x"), ("!!bool", "maybe"), ("!!int", "9" * 5000), ("!!float", "1.2.3")):
        cases.append((f"tag-bad-{tag[2:]}-{len(value)}", f"a: {tag} {value}\n", "is not a valid"))
    # merge keys
    cases.append(("merge-scalar", "a: {<<: 1}\n", "merge"))
    cases.append(("merge-alias-to-scalar", "s: &s 1\na: {<<: *s}\n", "merge"))
    cases.append(("merge-alias-to-list", "s: &s [1]\na: {<<: *s}\n", "merge"))
    cases.append(("merge-list-of-scalars", "a: {<<: [1, 2]}\n", "merge"))
    # keys: a mapping or a list as a key (Kubernetes and Go YAML refuse them; Python cannot hash them)
    for kid, text in (("block-map", "? a: 1\n  b: 2\n: v\n"), ("block-seq", "? - a\n  - b\n: v\n"),
                      ("flow-map", "{a: 1}: v\n"), ("flow-seq", "[a, b]: v\n"), ("empty-map", "{}: v\n"),
                      ("empty-seq", "[]: v\n"), ("in-flow-map", "a: {[x]: 1}\n"), ("nested", "a:\n  ? {b: [1]}\n  : v\n"),
                      ("alias-map", "m: &m {a: 1}\n? *m\n: v\n"), ("alias-seq", "s: &s [1]\n? *s\n: v\n"),
                      ("merged", "m: &m {? [k]: 1}\nn: {<<: *m}\n"), ("in-list-item", "a:\n- ? [k]\n  : 1\n")):
        cases.append((f"key-{kid}", text, "cannot be a key"))
    for kid, text in (("null-tilde", "~: v\n"), ("null-word", "null: v\n"), ("null-empty", "? \n: v\n"),
                      ("null-flow", "a: {~: v}\n"), ("null-alias", "n: &n ~\n? *n\n: v\n")):
        cases.append((f"key-{kid}", text, "null key"))
    return cases


FRAGMENTS = _fragments()


def test_corpus_is_large_and_covers_every_category():
    ids = [c[0] for c in FRAGMENTS]
    assert len(set(ids)) == len(ids)
    by = {cat: sum(i.startswith(cat) for i in ids) for cat in ("alias", "depth", "control", "utf8", "tag", "merge", "key")}
    assert all(by.values()) and len(ids) >= 100, by


def _config_text(fragment: str | bytes) -> bytes:
    """BASE with the hostile fragment as an extra top-level section (read before validation)."""
    frag = fragment if isinstance(fragment, bytes) else fragment.encode("utf-8")
    body = b"".join(b"  " + ln + b"\n" for ln in frag.split(b"\n") if ln)
    return BASE.encode() + b"x-extra:\n" + body


# The budget is CPU seconds of the CLI (a hang is caught by the 30 s subprocess timeout): wall time on a
# machine shared with other test workers measures the machine, not the input.
def _render(cfg, *extra: str):
    r = run_cli("render", str(cfg), *extra, timeout=30)
    return r, r.cpu


def _one_config_line(r, name: str) -> str:
    assert "Traceback" not in r.err + r.out, r.err
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    assert re.search(rf"{re.escape(name)}(:\d+:\d+ (\S+|\(top level\)):|:) ", lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", FRAGMENTS, ids=[c[0] for c in FRAGMENTS])
def test_config_refused_located(tmp_path, case):
    name, fragment, words = case
    cfg = tmp_path / "velero-gitops.yaml"
    data = _config_text(fragment) if not name.startswith("utf16") else fragment
    cfg.write_bytes(data)
    before = snapshot(tmp_path)
    r, took = _render(cfg)
    assert r.code == 2, (r.code, r.err)
    line = _one_config_line(r, "velero-gitops.yaml")
    if len(data) > CONFIG_SIZE_LIMIT:  # the biggest nesting cases: refused for their size, before parsing
        words = "more than the limit of"
    assert words.lower() in line.lower(), line
    if not name.startswith("utf16") and len(data) <= CONFIG_SIZE_LIMIT:
        assert re.search(r"velero-gitops\.yaml:\d+:\d+ ", line), line
    assert took < DEADLINE, took
    assert snapshot(tmp_path) == before


def _validate(d, *extra: str):
    r = run_cli("validate", "--ignore-missing-schemas", *extra, str(d), cwd=d, timeout=30)
    return r, r.cpu


def _one_finding(r, name: str) -> str:
    assert "Traceback" not in r.err + r.out, r.err
    lines = [ln for ln in r.out.splitlines() if ln.startswith(name)]
    assert len(lines) == 1, r.out
    return lines[0]


@pytest.mark.parametrize("case", FRAGMENTS, ids=[c[0] for c in FRAGMENTS])
def test_validate_finding_located(tmp_path, case):
    name, fragment, words = case
    frag = fragment if isinstance(fragment, bytes) else fragment.encode("utf-8")
    body = b"".join(b"  " + ln + b"\n" for ln in frag.split(b"\n") if ln)
    (tmp_path / "ok.yaml").write_text(CM + "data:\n  a: b\n")
    (tmp_path / "bad.yaml").write_bytes(fragment if name.startswith("utf16") else CM.encode() + b"data:\n" + body)
    r, took = _validate(tmp_path, "--kustomize", "never")
    assert r.code == 1, (r.code, r.out, r.err)
    line = _one_finding(r, "bad.yaml")
    assert words.lower() in line.lower(), line
    if not name.startswith("utf16"):
        assert re.match(r"bad\.yaml:\d+: ", line), line
    assert took < DEADLINE, took


# ---------------------------------------------------------------------------------------- accepted


SCHEDULE = """  - name: daily
    cron: "0 2 * * *"
    namespaces: [monitoring, database, network]
    ttl: 720h
"""
ACCEPT = [
    ("redefined-anchor", [("cluster: home-lab", "cluster: &c home-lab"), ("bucket: velero-backups", "bucket: &c velero-backups"),
                          ("[monitoring, database, network]", "[monitoring, database, *c]")]),
    ("merge-override", [(SCHEDULE, SCHEDULE.replace("  - name: daily", "  - &d\n    name: daily") + "  - <<: *d\n    name: weekly\n")]),
    ("small-alias-use", [(SCHEDULE, SCHEDULE.replace("ttl: 720h", "ttl: &t 720h") + "  - name: weekly\n    cron: '0 3 * * 0'\n    namespaces: [media]\n    ttl: *t\n")]),
]


@pytest.mark.parametrize("case", ACCEPT, ids=[c[0] for c in ACCEPT])
def test_go_yaml_constructs_render(tmp_path, case):
    """What go-yaml/yaml@v3 accepts (decode.go: an anchor may be re-defined and aliases take the
    latest; explicit keys win over `<<` merged ones) renders."""
    name, edits = case
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    cfg = tmp_path / "velero-gitops.yaml"
    cfg.write_text(text)
    r, took = _render(cfg)
    assert r.code == 0 and "Traceback" not in r.err and took < DEADLINE, r.err


def test_value_tag_is_a_plain_string(tmp_path):
    """go-yaml/yaml@v3:resolve.go has no `=` value tag: `=` is the string "=" (here: a bad name, located)."""
    (tmp_path / "c.yaml").write_text(BASE.replace("cluster: home-lab", "cluster: ="))
    r, _ = _render(tmp_path / "c.yaml")
    assert r.code == 2 and re.search(r"c\.yaml:1:10 cluster: '=' is not a valid", r.err), r.err


def test_merged_key_error_points_into_the_anchor(tmp_path):
    text = BASE.replace("s3:\n", "x-base: &b\n  bukket: 1\ns3:\n  <<: *b\n", 1)
    (tmp_path / "c.yaml").write_text(text)
    from velero_gitops.config.loader import load
    from velero_gitops.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load(tmp_path / "c.yaml")
    line = next(p for p in info.value.problems if "bukket" in p)
    assert re.search(r"c\.yaml:13:3 s3\.bukket: unknown key 'bukket'; did you mean 'bucket'", line), line


@pytest.mark.parametrize("value", [".inf", "-.inf", ".NaN", "1e400"])
def test_non_finite_number_points_at_its_line(tmp_path, value):
    text = BASE.replace("    distribution: talos", f"    distribution: talos\n    resources:\n      limits:\n        cpu: 200m\n        memory: {value}")
    (tmp_path / "c.yaml").write_text(text)
    from velero_gitops.config.loader import load
    from velero_gitops.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load(tmp_path / "c.yaml")
    assert info.value.problems[0].split(" ")[0].endswith("c.yaml:15:17"), info.value.problems


def test_validate_merge_override_is_not_a_duplicate(tmp_path):
    (tmp_path / "m.yaml").write_text(CM + "data: &d\n  a: '1'\n---\n" + CM.replace("name: x", "name: y") + "data:\n  <<: *d\n  a: '2'\n")
    r, _ = _validate(tmp_path, "--kustomize", "never")
    assert "duplicate" not in r.out.lower() and "Traceback" not in r.err, r.out


def test_validate_go_yaml_constructs_are_accepted(tmp_path):
    (tmp_path / "v.yaml").write_text(CM + "data:\n  op: =\n  a: &x one\n  b: &x two\n  c: *x\n")
    r, _ = _validate(tmp_path, "--kustomize", "never")
    assert r.code == 0 and "Traceback" not in r.err, (r.out, r.err)


# ----------------------------------------------------------------------------------- special files


def _special(kind: str, target, outside):
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    elif kind == "dev-urandom":
        target.symlink_to("/dev/urandom")
    elif kind == "directory":
        target.mkdir()
    elif kind == "outside-link":
        secret = outside / "secret.yaml"
        secret.write_text("password: hunter2\n")
        target.symlink_to(secret)
    elif kind == "dangling":
        target.symlink_to(target.parent / "gone.yaml")
    elif kind == "oversize":
        with open(target, "wb") as f:
            f.write(BASE.encode())
            f.truncate(9 * 1024 * 1024)


SPECIAL = ["fifo", "dev-zero", "dev-urandom", "directory", "dangling", "oversize"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_config_special_file(tmp_path, kind):
    cfg = tmp_path / "velero-gitops.yaml"
    _special(kind, cfg, tmp_path)
    r, took = _render(cfg)
    assert r.code == 2 and took < DEADLINE, (r.code, r.err)
    line = _one_config_line(r, "velero-gitops.yaml")
    assert "Traceback" not in line


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "outside-link", "directory"])
def test_ca_bundle_special_file(tmp_path, kind):
    repo = tmp_path / "repo"
    repo.mkdir()
    _special(kind, repo / "ca.pem", tmp_path)
    cfg = repo / "velero-gitops.yaml"
    cfg.write_text(BASE.replace("  bucket: velero-backups", "  bucket: velero-backups\n  caBundle: ca.pem"))
    r, took = _render(cfg)
    assert r.code == 2 and took < DEADLINE, (r.code, r.err)
    line = _one_config_line(r, "velero-gitops.yaml")
    assert re.search(r"velero-gitops\.yaml:\d+:\d+ s3\.caBundle: ", line) and "hunter2" not in line, line


VALIDATE_SPECIAL = [(k, "app.yaml") for k in ("fifo", "dev-zero", "dev-urandom", "outside-link", "oversize", "dangling")] + [
    (k, "kustomization.yaml") for k in ("fifo", "dev-zero", "dev-urandom")]
# What the one finding says about each kind of file (why it was not read).
SPECIAL_REASON = {"fifo": ": is a FIFO (named pipe); only regular files are read",
                  "dev-zero": ": is a symlink to /dev/zero (as written) that leads outside ",
                  "dev-urandom": ": is a symlink to /dev/urandom (as written) that leads outside ",
                  "outside-link": "secret.yaml (as written) that leads outside ",
                  "oversize": ": is 9 MiB, more than the limit of 8 MiB",
                  "dangling": ": no such file (dangling symlink)"}


@pytest.mark.parametrize(("kind", "name"), VALIDATE_SPECIAL)
def test_validate_special_file(tmp_path, kind, name):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ok.yaml").write_text(CM)
    _special(kind, repo / name, tmp_path)
    r = run_cli("validate", "--ignore-missing-schemas", "--repo-root", str(repo), str(repo), cwd=repo, timeout=30)
    took = r.cpu
    assert "Traceback" not in r.err + r.out and took < DEADLINE, (took, r.err)
    assert r.code == 1, (r.out, r.err)
    line = _one_finding(r, name)
    assert line.startswith(name) and SPECIAL_REASON[kind] in line, line
    assert "hunter2" not in r.out + r.err  # the outside file's content is never shown


def test_validate_stdin_is_bounded(tmp_path):
    r = run_cli("validate", "--ignore-missing-schemas", "-", stdin=CM + "data:\n  a: " + "x" * (9 * 1024 * 1024) + "\n")
    assert r.code == 1 and "not read" in r.out and "Traceback" not in r.err
