#!/usr/bin/env python3
"""Derive ``velero_gitops/config/compat.json``: which chart, Velero and AWS plugin versions work together.

Nothing in that file is written by hand. Everything is read from the upstream Git repositories at their tags
(bare clones, e.g. the ones the ``fetch`` tool puts under /work/.mirror):

* vmware-tanzu/helm-charts, every tag ``velero-X.Y.Z`` from ``--oldest-chart`` on:
  ``charts/velero/Chart.yaml`` appVersion; ``charts/velero/crds/*.yaml`` the ``status.phase`` enum of each
  kind (what the API server admits); ``charts/velero/values.yaml`` plus every ``.Values.a.b`` the templates
  read (the value keys the chart knows); ``templates/upgrade-crds/upgrade-crds.yaml`` whether the
  upgradeCRDs Job applies the CRDs built into the Velero image (``velero install --crds-only``); over every
  ``velero-X.Y.Z`` tag, the first chart where a values key changed shape (a list of BackupStorageLocations,
  node-agent instead of restic), so that an older chart's values are judged in their own shape; the values whose
  items a template writes as whole manifests (``range .Values.x`` then ``---`` and ``toYaml .``: extraObjects).
* vmware-tanzu/velero, every final tag of the minors those charts ship: ``config/crd/*/bases/*.yaml`` the
  phase enums the server's API types define (what it writes); features read from the code that decides
  them: ``privilegedFsBackup`` (a ``json:"privilegedFsBackup`` field in ``pkg/types`` or ``pkg/nodeagent``),
  namespace wildcards (``pkg/util/wildcard/expand.go`` with ``ShouldExpandWildcards`` called from
  ``pkg/util/collections/includes_excludes.go``), and the uploaders ``pkg/uploader/types.go``
  ``ValidateUploaderType`` accepts; the kopia release it links, from the release notes of its minor
  (``changelogs/CHANGELOG-X.Y.md``), and the fork ``go.mod`` replaces kopia with.
* vmware-tanzu/velero-plugin-for-aws, every final tag (and the newest tag): the README "Compatibility"
  table, plugin minor -> Velero minor.

Each fact carries the ``repo@tag:path`` it came from.

Usage: python scripts/derive_compat.py [--mirror /work/.mirror] [--out FILE | --check]
(--check: exit 1 when the committed file differs from a fresh derivation)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "velero_gitops" / "config" / "compat.json"
CHARTS = "vmware-tanzu/helm-charts"
VELERO = "vmware-tanzu/velero"
PLUGIN = "vmware-tanzu/velero-plugin-for-aws"
OLDEST_CHART = (10, 0, 0)  # older charts ship Velero <= 1.15; kept only so that they are refused by name
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
VALUES_PAREN_REF = re.compile(r"\(\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
OPEN, LEAF = "*", "="  # a mapping whose keys are the user's (`{}`, null) / a scalar or list


def vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-", 1)[0].lstrip("v").split("."))


class Repo:
    def __init__(self, mirror: Path, name: str) -> None:
        self.name = name
        self.git_dir = mirror / name.replace("/", "+") / "repo"
        if not self.git_dir.is_dir():
            sys.exit(f"{self.git_dir} is missing: fetch github:{name} first")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True,
                              text=True).stdout

    def tags(self) -> list[str]:
        return self.git("tag").split()

    def show(self, tag: str, path: str) -> str | None:
        try:
            return self.git("show", f"{tag}:{path}")
        except subprocess.CalledProcessError:
            return None

    def ls(self, tag: str, path: str) -> list[str]:
        return self.git("ls-tree", "-r", "--name-only", tag, path).split()

    def at(self, tag: str, path: str) -> str:
        return f"{self.name}@{tag}:{path}"


# ------------------------------------------------------------------------------------------ CRD phases
def crd_phases(texts: list[str]) -> dict[str, list[str]]:
    """Kind -> the status.phase enum of its storage version, for every CRD that declares one."""
    out: dict[str, list[str]] = {}
    for text in texts:
        for doc in yaml.safe_load_all(text):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if not version.get("storage", True):
                    continue
                status = version["schema"]["openAPIV3Schema"].get("properties", {}).get("status", {})
                enum = status.get("properties", {}).get("phase", {}).get("enum")
                if enum:
                    out[kind] = list(enum)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------------------ value keys
def values_tree(node: object) -> object:
    """values.yaml as a key tree: a mapping with keys is a dict; `{}`/null is OPEN; scalars and lists LEAF."""
    if isinstance(node, dict):
        return {str(k): values_tree(v) for k, v in node.items()} if node else OPEN
    return OPEN if node is None else LEAF


def add_path(tree: dict, parts: list[str]) -> None:
    """A key a template reads: known from now on. Below it, keys are free unless values.yaml lists them."""
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if not isinstance(node, dict):
            return  # below an open mapping or a scalar: nothing to add
        if part not in node:
            node[part] = OPEN if last else {}
        if not last and node[part] == OPEN:
            return
        if not last and node[part] == LEAF:
            return  # the template reads a field of a scalar's default (e.g. a list item); leave it
        node = node[part]
    # an intermediate {} created above with no listed child stays a closed mapping of the read keys


# text/template actions: `{{- with .Values.x }}` sets dot for its body until the matching `{{ end }}`; `if`, `range`,
# `define`, `block` and `with` each open one (golang/go@go1.24:src/text/template/parse/parse.go itemList).
ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
OPENS = ("if", "with", "range", "define", "block")
# helm's serialisers (helm/helm@v3.17.0:pkg/engine/funcs.go, sprig): the mapping they print is passed on whole, so
# every key under it reaches the output (a ConfigMap, an argument list) and none is "ignored"
DUMPS = r"(?:toYaml|toJson|toPrettyJson|toRawJson|toToml|mustToJson|mustToPrettyJson|mustToRawJson)"
DUMP_DOT = re.compile(rf"(?:\b{DUMPS}\s+\.(?![\w.$])|(?<![\w.$])\.\s*\|\s*{DUMPS}\b)")
DUMP_VALUES = re.compile(rf"\b{DUMPS}\s+\(?\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\)?(?![\w.])")
WITH_VALUES = re.compile(r"with\s+\(?\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\)?\s*$")
WITH_FIELD = re.compile(r"with\s+\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$")


def whole_values(text: str) -> list[str]:
    """The `.Values` paths a template prints whole with a serialiser: `toYaml .Values.x`, or `toYaml .` / `. | toJson`
    inside `{{ with .Values.x }}` (nested `with .y` inside it extends the path; `range`/`define` bodies have another
    dot). Their keys are the user's."""
    out: list[str] = []
    stack: list[str | None] = []  # the `.Values` path dot is in each open block; None: another dot
    for m in ACTION.finditer(text):
        body = m.group(1).strip()
        word = body.split(None, 1)[0] if body else ""
        here = stack[-1] if stack else None
        out += [v.group(1) for v in DUMP_VALUES.finditer(body)]
        if word == "end":
            if stack:
                stack.pop()
        elif word in OPENS:
            if word == "with":
                wv, wf = WITH_VALUES.match(body), WITH_FIELD.match(body)
                stack.append(wv.group(1) if wv else f"{here}.{wf.group(1)}" if wf and here is not None else None)
            else:
                stack.append(here if word == "if" else None)
        elif here is not None and DUMP_DOT.search(body):
            out.append(here)
    return out


# A template that ranges over a `.Values` list and writes each item whole as its own document (`---`, then `toYaml .`
# at the start of a line, through `tpl` or not): the chart applies whatever objects that value holds, a Secret too.
OBJECTS_RANGE = re.compile(r"\{\{-?\s*range\s+\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*-?\}\}\s*^---[ \t]*$\s*"
                           r"^\{\{-?\s*(?:tpl\s*\(\s*)?toYaml\s+\.\s*\)?", re.M)


def object_values(repo: Repo, tag: str, templates: list[str]) -> dict[str, str]:
    """The value paths whose items a template renders as manifests, each with the template it came from."""
    out = {}
    for path in templates:
        for m in OBJECTS_RANGE.finditer(repo.show(tag, path) or ""):
            out[m.group(1).strip(".")] = repo.at(tag, path)
    return dict(sorted(out.items()))


def chart_value_keys(values_text: str, templates: list[str]) -> dict:
    tree = values_tree(yaml.safe_load(values_text) or {})
    assert isinstance(tree, dict)
    for text in templates:
        refs = [m.group(1) for m in VALUES_REF.finditer(text)]
        refs += [m.group(1) + m.group(2) for m in VALUES_PAREN_REF.finditer(text)]
        for ref in refs:
            add_path(tree, ref.strip(".").split("."))
    for text in templates:
        for ref in whole_values(text):
            open_path(tree, ref.strip(".").split("."))
    return sort_tree(tree)


def open_path(tree: dict, parts: list[str]) -> None:
    """A mapping a template prints whole: any key under it is read."""
    node = tree
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return
    if isinstance(node, dict) and parts[-1] in node and node[parts[-1]] != LEAF:
        node[parts[-1]] = OPEN


def sort_tree(node):
    return {k: sort_tree(v) for k, v in sorted(node.items())} if isinstance(node, dict) else node


# -------------------------------------------------------------------------------------------- charts
def derive_charts(repo: Repo) -> tuple[dict, dict]:
    charts, trees = {}, {}
    tags = sorted((t for t in repo.tags() if re.fullmatch(r"velero-\d+\.\d+\.\d+", t)),
                  key=lambda t: vtuple(t.removeprefix("velero-")))
    for tag in tags:
        version = tag.removeprefix("velero-")
        if vtuple(version) < OLDEST_CHART:
            continue
        base = "charts/velero"
        chart = yaml.safe_load(repo.show(tag, f"{base}/Chart.yaml") or "{}")
        crd_files = [p for p in repo.ls(tag, f"{base}/crds") if p.endswith(".yaml")]
        templates = [p for p in repo.ls(tag, f"{base}/templates") if p.endswith((".yaml", ".tpl", ".txt"))]
        values_text = repo.show(tag, f"{base}/values.yaml") or ""
        keys = chart_value_keys(values_text, [repo.show(tag, p) or "" for p in templates])
        digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]
        trees[digest] = keys
        job = repo.show(tag, f"{base}/templates/upgrade-crds/upgrade-crds.yaml") or ""
        charts[version] = {
            "appVersion": str(chart["appVersion"]).lstrip("v"),
            "appVersionFrom": repo.at(tag, f"{base}/Chart.yaml"),
            "crdPhases": crd_phases([repo.show(tag, p) or "" for p in crd_files]),
            "crdPhasesFrom": repo.at(tag, f"{base}/crds/"),
            # The hook Job runs the Velero image's own `velero install --crds-only`: the image's CRDs, not crds/.
            "upgradeCRDsJobAppliesImageCRDs": "--crds-only" in job and ".Values.image.repository" in job,
            "upgradeCRDsDefault": bool((yaml.safe_load(values_text) or {}).get("upgradeCRDs", False)),
            "upgradeCRDsJobFrom": repo.at(tag, f"{base}/templates/upgrade-crds/upgrade-crds.yaml"),
            "objectValues": object_values(repo, tag, templates),
            "valueKeys": digest,
            "valueKeysFrom": repo.at(tag, f"{base}/values.yaml") + " + templates/ .Values references",
        }
    return charts, trees


def derive_value_shapes(repo: Repo) -> dict:
    """The chart versions where the shape of a values key changed, over every chart tag (the older ones too: a
    repository may pin a chart 2.x): the first chart whose BackupStorageLocation template ranges over a list
    (``typeIs "[]interface {}" .Values.configuration.backupStorageLocation``; before, one BSL from a map), and the
    first whose values.yaml has ``deployNodeAgent`` (restic's ``deployRestic``/``restic`` gone)."""
    tags = sorted((t for t in repo.tags() if re.fullmatch(r"velero-\d+\.\d+\.\d+", t)),
                  key=lambda t: vtuple(t.removeprefix("velero-")))
    base = "charts/velero"
    tests = {
        "backupStorageLocationList": (f"{base}/templates/backupstoragelocation.yaml",
                                      lambda text: 'typeIs "[]interface {}" .Values.configuration.backupStorageLocation'
                                      in text),
        "nodeAgent": (f"{base}/values.yaml",
                      lambda text: "deployNodeAgent" in (yaml.safe_load(text) or {})
                      and "deployRestic" not in (yaml.safe_load(text) or {})),
    }
    out = {}
    for name, (path, has) in tests.items():
        first = next((t for t in tags if has(repo.show(t, path) or "")), None)
        if first is not None:
            out[name] = {"since": first.removeprefix("velero-"), "from": repo.at(first, path)}
    return out


# -------------------------------------------------------------------------------------------- velero
def uploaders(types_go: str) -> list[str]:
    """The uploader types ValidateUploaderType accepts: the constants it compares `t` with."""
    consts = dict(re.findall(r"(\w+)\s*=\s*\"(\w+)\"", types_go))
    body = types_go.split("func ValidateUploaderType", 1)[1].split("\n}\n", 1)[0]
    first_if = re.search(r"if (t != \w+(?:\s*&&\s*t != \w+)*)\s*\{", body)
    assert first_if, "ValidateUploaderType changed shape"
    return sorted(consts[name] for name in re.findall(r"t != (\w+)", first_if.group(1)))


def derive_velero(repo: Repo, minors: set[tuple[int, int]]) -> dict:
    out = {}
    tags = sorted((t for t in repo.tags() if re.fullmatch(r"v\d+\.\d+\.\d+", t) and vtuple(t)[:2] in minors), key=vtuple)
    for tag in tags:
        crds = [p for p in repo.ls(tag, "config/crd") if "/bases/" in p and p.endswith(".yaml")]
        privileged = grep_files(repo, 'json:"privilegedFsBackup', tag, "pkg/types", "pkg/nodeagent")
        expand = repo.show(tag, "pkg/util/wildcard/expand.go")
        incl = repo.show(tag, "pkg/util/collections/includes_excludes.go") or ""
        wildcards = bool(expand) and "func ShouldExpandWildcards" in expand and "wildcard.ShouldExpandWildcards(" in incl
        types_go = repo.show(tag, "pkg/uploader/types.go") or ""
        changelog = "changelogs/CHANGELOG-{}.{}.md".format(*vtuple(tag)[:2])
        out[tag.lstrip("v")] = {
            "crdPhases": crd_phases([repo.show(tag, p) or "" for p in crds]),
            "crdPhasesFrom": repo.at(tag, "config/crd/*/bases/"),
            "privilegedFsBackup": bool(privileged),
            "privilegedFsBackupFrom": repo.at(tag, privileged[0]) if privileged
            else repo.at(tag, "pkg/types/node_agent.go"),
            "namespaceWildcards": wildcards,
            "namespaceWildcardsFrom": repo.at(tag, "pkg/util/wildcard/expand.go"),
            "uploaders": uploaders(types_go),
            "uploadersFrom": repo.at(tag, "pkg/uploader/types.go"),
            "kopia": kopia(repo.show(tag, changelog) or "", repo.show(tag, "go.mod") or ""),
            "kopiaFrom": repo.at(tag, changelog) + " (Runtime and dependencies), go.mod (replace)",
        }
    return out


def kopia(changelog: str, go_mod: str) -> dict:
    """The kopia a Velero build links. Velero links a fork (go.mod ``replace github.com/kopia/kopia => <fork>
    <pseudo-version>``); the ``require`` line it replaces has stayed at v0.16.0 since Velero 1.16 while the fork moved,
    so it says nothing. The kopia release the fork carries is what the release notes state under "Runtime and
    dependencies" (``kopia: X.Y.Z``), in the newest section of the minor's changelog that states it."""
    stated = re.search(r"^kopia:\s*v?(\d+\.\d+\.\d+)\s*$", changelog, re.M)
    assert stated, "the changelog states no kopia version under Runtime and dependencies"
    replaced = re.search(r"^\s*(?:replace\s+)?github\.com/kopia/kopia(?:\s+v\S+)?\s+=>\s+(\S+)\s+(v\S+)", go_mod, re.M)
    out = {"version": stated.group(1)}
    if replaced:
        out["replacedBy"] = f"{replaced.group(1)} {replaced.group(2)}"
    return out


def grep_files(repo: Repo, pattern: str, tag: str, *paths: str) -> list[str]:
    """Non-test files under ``paths`` at ``tag`` that contain ``pattern`` (git grep exits 1 on no match)."""
    try:
        hits = repo.git("grep", "-l", "-F", pattern, tag, "--", *paths).split()
    except subprocess.CalledProcessError:
        return []
    return [h.split(":", 1)[1] for h in hits if not h.endswith("_test.go")]


# -------------------------------------------------------------------------------------------- plugin
def derive_plugin(repo: Repo) -> list[dict]:
    """Rows of the README "Compatibility" table, each from the newest tag that lists it."""
    rows: dict[str, dict] = {}
    tags = sorted((t for t in repo.tags() if re.fullmatch(r"v\d+\.\d+\.\d+(-rc\.\d+)?", t)), key=lambda t: (vtuple(t), t))
    for tag in tags:
        readme = repo.show(tag, "README.md") or ""
        section = readme.split("## Compatibility", 1)[1].split("\n## ", 1)[0] if "## Compatibility" in readme else ""
        for plugin, velero in re.findall(r"^\|\s*v(\d+\.\d+)\.x\s*\|\s*v(\d+\.\d+)\.x\s*\|", section, re.M):
            rows[plugin] = {"plugin": plugin, "velero": velero, "from": repo.at(tag, "README.md")}
    return sorted(rows.values(), key=lambda r: vtuple(r["plugin"]))


def derive_plugin_image(repo: Repo) -> dict:
    """The repository the plugin's image is published as (Makefile IMAGE ?= $(REGISTRY)/$(BIN)), at the newest tag.
    Its entrypoint copies the binary of that name into /target, the one that registers the velero.io/aws
    ObjectStore (velero-plugin-for-aws/main.go)."""
    tag = max((t for t in repo.tags() if re.fullmatch(r"v\d+\.\d+\.\d+(-rc\.\d+)?", t)), key=lambda t: (vtuple(t), t))
    make = repo.show(tag, "Makefile") or ""
    found = {k: re.search(rf"^{k}\s*\?=\s*(\S+)\s*$", make, re.M) for k in ("REGISTRY", "BIN")}
    assert all(found.values()) and re.search(r"^IMAGE\s*\?=\s*\$\(REGISTRY\)/\$\(BIN\)\s*$", make, re.M), \
        "Makefile no longer names the image $(REGISTRY)/$(BIN)"
    main = repo.show(tag, "velero-plugin-for-aws/main.go") or ""
    provider = re.search(r'RegisterObjectStore\("([^"]+)"', main)
    assert provider, "main.go registers no ObjectStore"
    return {"repository": f"{found['REGISTRY'].group(1)}/{found['BIN'].group(1)}",  # type: ignore[union-attr]
            "objectStore": provider.group(1), "from": repo.at(tag, "Makefile") + " (IMAGE), velero-plugin-for-aws/main.go"}


HELM_CONTROLLER = "fluxcd/helm-controller"
HELM_CONTROLLER_TAG = "v1.6.3"


def derive_helm_controller(repo: Repo, tag: str = HELM_CONTROLLER_TAG) -> dict:
    """The CRD policy an install or upgrade uses when spec.install/upgrade.crds is empty.

    Read from the code, not from the field's doc comment (which says Skip for upgrades): both actions
    call crdPolicyOrDefault, which turns "" into DefaultCRDPolicy."""
    crds = repo.show(tag, "internal/action/crds.go") or ""
    default = re.search(r"DefaultCRDPolicy\s*=\s*v2\.(\w+)", crds)
    assert default, "DefaultCRDPolicy not found"
    out = {}
    for action, getter in (("install", "GetInstall"), ("upgrade", "GetUpgrade")):
        path = f"internal/action/{action}.go"
        body = repo.show(tag, path) or ""
        assert f"crdPolicyOrDefault(obj.{getter}().CRDs)" in body, f"{path} no longer calls crdPolicyOrDefault"
        out[action] = default.group(1)
    return {"defaultCRDPolicy": out, "from": repo.at(tag, "internal/action/crds.go") + " crdPolicyOrDefault, "
            + "install.go, upgrade.go"}


def derive(mirror: Path) -> dict:
    charts, trees = derive_charts(Repo(mirror, CHARTS))
    minors = {vtuple(c["appVersion"])[:2] for c in charts.values()}
    return {
        "about": "Generated by scripts/derive_compat.py from upstream tags; do not edit.",
        "charts": charts,
        "valueKeys": dict(sorted(trees.items())),
        "valueShapes": derive_value_shapes(Repo(mirror, CHARTS)),
        "velero": derive_velero(Repo(mirror, VELERO), minors),
        "awsPlugin": derive_plugin(Repo(mirror, PLUGIN)),
        "awsPluginImage": derive_plugin_image(Repo(mirror, PLUGIN)),
        "helmController": derive_helm_controller(Repo(mirror, HELM_CONTROLLER)),
    }


def dump(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = dump(derive(args.mirror))
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'differs from a fresh derivation'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
