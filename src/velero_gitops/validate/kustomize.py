"""Build what Flux builds, offline and confined to the repository, and validate the output.

What is built: the directory of every Flux Kustomization that reads this repository
(``spec.path``), with the fields that kustomize-controller adds to the kustomization it finds or
generates there (``spec.components``, ``targetNamespace``, ``namePrefix``/``nameSuffix``,
``patches``); then every top-level kustomization of the validated paths that no build reached
(plain kustomize). A folder that a build already read is never built again on its own. A Flux Kustomization whose
``spec.path`` only its parent completes (a variable) is built from the form the parent's build output declares, a
cluster's sync from the build of the folder its patched path names (``_instances``, ``_declared``).

How: every path a kustomization names is resolved first (``resources``, ``components``, bases,
patches, generator inputs, replacements...). A remote reference, a path outside the repository
root (after symlinks), a missing resource or something that is not a regular file is a finding
and the build does not run; so is a build that would load kustomizations more than MAX_LOADS
times. Otherwise the files the build reads are copied into a private mirror of the repository
(symlinked folders recreated inside it) and ``kubectl kustomize --load-restrictor
LoadRestrictionsNone`` runs on it in the sandbox (validate/sandbox.py), which mounts the mirror at
the repository's own path and holds nothing else: Flux's restrictor is off too, and the planner's
findings are messages, not the confinement. Without a sandbox no build runs (one line naming
``--kustomize never``).

Output objects are traced back to their source file through kustomize's origin annotations, so
findings land on the source object and line, once per source location. Builds are cached by
the content of every file copied into the mirror (the sandbox holds nothing else), our code and
kubectl; only the output of a passing build without a Secret in its inputs or output is cached; the verdict
of every passing build (findings, covered files) is cached under that key and the output check's context
(validate/buildcache.py), a verdict whose output declares Flux Kustomizations still reading that output; in a
run, each distinct set of inputs is built once (_Outputs); a failed build's message is redacted of Secret values and
generator inputs in every form kustomize prints them (validate/buildsecrets.py), and no finding on the objects of a build holding Secret data quotes a value.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from velero_gitops import identity, safefile, tools, varsub
from velero_gitops.boundary import git_toplevel, realpath
from velero_gitops.errors import UsageError
from velero_gitops.findings import Finding
from velero_gitops.rules import NOT_APPLIED, RULES, define
from velero_gitops.shown import esc
from velero_gitops.validate import buildcache, buildsecrets, flux, fluxmodel, policy, resolve, sandbox, substitution
from velero_gitops.validate.documents import (
    KUSTOMIZE_FILES,
    Obj,
    dig,
    display_path,
    find_kfile,
    inside,
    mapping,
    unsafe_for_kubectl,
)
from velero_gitops.validate.policy import holds_secret_data
from velero_gitops.validate.resolve import MAX_FILE, KFile, is_remote, read_kfile
from velero_gitops.validate.run import Options, Run
from velero_gitops.validate.schemas import SchemaError, SchemaStore, schema_findings
from velero_gitops.validate.yamlload import YAMLError, load_all

define("kustomize", "error", "a kustomize build that fails, or that is not run because it would read something refused")
define("kustomize.remote", "warning", "a remote base or resource: valid for Flux, not fetched by validate")
define("kustomize.outside", "error", "a kustomization names a path outside the repository (Flux cannot read it either)")
HELM_CHARTS = define("kustomize.helm-charts", "note", "a kustomization that inflates Helm charts (`helmCharts`): Flux "
                     "never builds one, so no Flux Kustomization applies it (one that tried would fail its build); not "
                     "built here either, so its output is not checked")
NO_KUBECTL = define("kustomize.no-kubectl", "warning", "kubectl is not on PATH, so kustomize builds did not run (`--kustomize always` fails instead)")

ORIGIN = "config.kubernetes.io/origin"
MAX_MESSAGE = 300
MAX_LOADS = 1000  # kustomization loads per build (a 12-deep diamond of bases is 8191)
TIMEOUT = 120
MAX_ROUNDS = 8  # a build declares Flux Kustomizations whose builds declare more: the depth of a cluster's tree
# path-bearing fields of a kustomization: a value that is not a local file is a finding, not a fetch
_DIR_FIELDS = ("resources", "bases", "components")
_FILE_LIST_FIELDS = ("crds", "configurations", "patchesStrategicMerge", "generators", "transformers", "validators")
_ACCUMULATED = ("generators", "transformers", "validators")


def kubectl_path(repo: str | os.PathLike[str] | None = None) -> str | None:
    """kubectl from PATH, never from ``.``, an empty entry or inside the repository (tools.which)."""
    return tools.which("kubectl", repo if repo is not None else git_toplevel(Path.cwd()))


def _short(s: str, n: int = 80) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 3] + "..."


# --------------------------------------------------------------------------------------------------
# Reading kustomizations


def _entries(k: dict) -> Iterator[tuple[str, Any, bool]]:
    """(field, value, must_exist, is_dir_field) for every path a kustomization names."""
    for f in _DIR_FIELDS:
        for v in _strings(k.get(f)):
            yield f, v, True
    for f in _FILE_LIST_FIELDS:
        for v in _strings(k.get(f)):
            # inline YAML is not a path; a remote one is (resolve() reports it as remote, like a remote resource)
            if "\n" not in v and (":" not in v.split("/", 1)[0] or is_remote(v)):
                yield f, v, False
    for f in ("patches", "patchesJson6902", "replacements"):
        for item in k.get(f) or [] if isinstance(k.get(f), list) else []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield f, item["path"], False
    for f in ("configMapGenerator", "secretGenerator"):
        for gen in k.get(f) or [] if isinstance(k.get(f), list) else []:
            if not isinstance(gen, dict):
                continue
            for v in _strings(gen.get("files")):
                yield f, v.split("=", 1)[1] if "=" in v else v, False
            for v in [*_strings(gen.get("envs")), *_strings(gen.get("env"))]:
                yield f, v, False
    openapi = k.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi", openapi["path"], False
    for chart in k.get("helmCharts") or [] if isinstance(k.get("helmCharts"), list) else []:
        if isinstance(chart, dict):
            for key in ("valuesFile",):
                if isinstance(chart.get(key), str):
                    yield "helmCharts", chart[key], False
            for v in _strings(chart.get("additionalValuesFiles")):
                yield "helmCharts", v, False


def _line_of_key(kf: KFile, key: str) -> int | None:
    """The line where top-level ``key`` of a kustomization starts."""
    for i, ln in enumerate(kf.text.splitlines(), 1):
        if ln.startswith(f"{key}:"):
            return i
    return None


def _strings(v: object) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def input_files(kdirs: Iterable[Path], run: Run) -> tuple[set[Path], set[Path]]:
    """(files kustomizations read as generator/patch/replacement inputs, files they list as resources): real paths.

    An input is not a Kubernetes object wherever it sits; a resource is applied.
    """
    inputs: set[Path] = set()
    resources: set[Path] = set()
    for d in kdirs:
        kf = find_kfile(d)
        k = read_kfile(kf, run.kfiles) if kf else None
        if k is None:
            continue
        for fld, v, _ in _entries(k.data):
            if is_remote(v) or os.path.isabs(v):
                continue
            p = Path(realpath(d / v))
            if fld in _DIR_FIELDS:
                if os.path.isfile(p):
                    resources.add(p)
            elif fld != "patchesStrategicMerge" or os.path.isfile(p):
                inputs.add(p)
    return inputs - resources, resources


# --------------------------------------------------------------------------------------------------
# Planning a build: what it reads, and whether it may run


@dataclass
class Build:
    root: Path  # real repository root
    entry: Path  # real directory that is built
    flux_ks: Obj | None = None  # the Flux Kustomization this build stands for
    also: list[Obj] = field(default_factory=list)  # other Flux Kustomizations whose build is the same (plans)
    kfile_name: str = "kustomization.yaml"
    generated: str = ""  # kustomization text written in the mirror's entry directory
    plain: str = ""  # the same as Flux builds it, when it differs only by our origin annotations (build: the retry)
    files: dict[str, Path] = field(default_factory=dict)  # mirror-relative path -> real file
    links: dict[str, str] = field(default_factory=dict)  # mirror-relative symlink -> mirror-relative target
    visited: set[Path] = field(default_factory=set)  # real kustomization directories read
    problems: list[Finding] = field(default_factory=list)
    key: str | None = None
    secret_input: bool = False  # a kustomization of the build has a secretGenerator
    secret_files: set[Path] = field(default_factory=set)  # real paths of the secretGenerators' input files
    edges: dict[Path, list[Path]] = field(default_factory=dict)  # kustomization dir -> the dirs it includes
    # postBuild.substitute of a Flux Kustomization known only from a build's output (_declared): its own variables,
    # the graph having no model of that instance
    values: dict[str, str] | None = None
    # (real path, root) -> bytes: the run's one read of a file (validate.run.Run.content); the key, the mirror and
    # the refusal check all see the same bytes
    read: Callable[[Path, Path], bytes] = field(default=lambda p, root: safefile.read_bytes(p, root=root), repr=False)

    def text(self, real: Path) -> str:
        return safefile.decode(self.read(real, self.root), display_path(real)).text


def _real(p: Path) -> Path:
    return Path(realpath(p))


class _Planner:
    def __init__(self, b: Build, kfiles: dict, real: Callable[[Path], Path] = _real,
                 islink: Callable[[str], bool] = os.path.islink):
        self.b = b
        self.kfiles = kfiles  # the run's parsed kustomizations
        self.root = b.root
        self.real = real  # the run's memoised realpath: the builds of one run share most folders (issue 23)
        self.islink = islink  # and its memoised islink

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def add_file(self, real: Path, via: KFile | None, value: str) -> bool:
        try:
            st = os.stat(real)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return True
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
            self.problem(via, value, f"{_short(value)!s} is not a regular file of at most {MAX_FILE >> 20} MiB: not read")
            return False
        self.b.files[self.rel(real)] = real
        return True

    def problem(self, via: KFile | None, value: str, msg: str, rule: str = "kustomize") -> None:
        # a remote base is valid for Flux (it fetches it) but cannot be validated offline: a warning
        sev = "warning" if rule == "kustomize.remote" else "error"
        if via is None and self.b.flux_ks is not None:
            self.b.problems.append(self.b.flux_ks.finding("/spec/path", msg, rule, sev))
        elif via is None:
            self.b.problems.append(Finding(display_path(self.b.entry), None, None, "", msg, rule, sev))
        else:
            self.b.problems.append(Finding(display_path(via.path), via.line_of(value), None, "", msg, rule, sev))

    def link_prefixes(self, lexical: Path) -> None:
        """Recreate in the mirror every symlink on ``lexical`` (a path inside the root before symlinks)."""
        try:
            parts = lexical.relative_to(self.root).parts
        except ValueError:
            return
        prefix = str(self.root)
        for part in parts:
            prefix = os.path.join(prefix, part)
            if self.islink(prefix):
                cur = Path(prefix)
                target = self.real(cur)
                if inside(target, self.root):
                    real_parent = self.real(cur.parent)
                    self.b.links[self.rel(real_parent / part)] = os.path.relpath(target, real_parent)
                    self.link_prefixes(target)  # chains of links
                return

    def resolve(self, base: Path, value: str, via: KFile | None, fld: str) -> Path | None:
        """Real path of ``value`` named in ``via`` (in real directory ``base``), or None after a finding."""
        v = value.strip()
        if is_remote(v):
            self.problem(via, value, f"{fld} entry {_short(v)!r} is remote: validate does not fetch it "
                         "(vendor it into the repository to validate it)", "kustomize.remote")
            return None
        if v.lower().startswith("file://"):
            v = v[7:]
        lexical = Path(os.path.normpath(base / v))
        real = self.real(base / v)
        if not inside(lexical, self.root) or not inside(real, self.root):
            self.problem(via, value, f"{fld} entry {_short(v)!r} is outside the repository root: not read "
                         "(Flux cannot read it either)", "kustomize.outside")
            return None
        if not os.path.exists(real):
            return real
        self.link_prefixes(lexical)
        return real

    def visit_dir(self, d: Path, via: KFile | None, value: str, depth: int = 0) -> None:
        if d in self.b.visited or depth > 64:
            return
        self.b.visited.add(d)
        kf_path = find_kfile(d)
        if kf_path is None:
            return  # kustomize reports a folder without kustomization; the entry one is generated
        kf = read_kfile(kf_path, self.kfiles)
        self.add_file(kf_path, via, value)
        # every file next to the kustomization: what it names, and what kustomize may read without naming
        try:
            names = sorted(os.listdir(d))
        except OSError:
            names = []
        for n in names:
            p = d / n
            if os.path.isfile(p) and not os.path.islink(p):
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE:
                    self.b.files[self.rel(p)] = p
        if kf is None:
            return
        if kf.data.get("secretGenerator"):
            self.b.secret_input = True
        for fld, v, must_exist in _entries(kf.data):
            real = self.resolve(d, v, kf, fld)
            if real is None:
                continue
            if not os.path.exists(real):
                if must_exist:
                    self.problem(kf, v, f"{fld} entry {_short(v)!r} does not exist")
                continue  # a missing input: kustomize says which
            if fld == "secretGenerator" and os.path.isfile(real):
                self.b.secret_files.add(real)
            if os.path.isdir(real):
                # kustomize accumulates generators/transformers/validators as it does resources: a folder there is a
                # kustomization, with its own resources (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/
                # target/kusttarget.go configureExternalTransformers/Generators call accumulateResources)
                if fld in _DIR_FIELDS or fld in _ACCUMULATED:
                    self.b.edges.setdefault(d, []).append(real)
                    self.visit_dir(real, kf, v, depth + 1)
                else:
                    self.add_tree(real, kf)
            else:
                self.add_file(real, kf, v)

    def add_tree(self, d: Path, via: KFile | None) -> None:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith(".git"))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                real = self.real(p)
                if inside(real, self.root):
                    if os.path.islink(p):
                        self.link_prefixes(p)
                    self.add_file(real, via, str(p.relative_to(d)))

    def generated_resources(self, d: Path) -> list[str]:
        """What Flux lists when it generates a kustomization for ``d`` (resolve.listing)."""
        return ["./" + p.relative_to(d).as_posix() for p, _ in resolve.listing(d, self.root)]


def plan(root: Path, entry: Path, flux_ks: Obj | None, kfiles: dict, real: Callable[[Path], Path] = _real) -> Build:
    """Resolve what building ``entry`` reads, and the kustomization Flux would build there (``real``: the run's
    memoised realpath)."""
    root = real(root)
    entry = real(entry)
    b = Build(root, entry, flux_ks)
    run = getattr(kfiles, "run", None)
    if run is not None:
        b.read = lambda p, r: run.content(p, root=r)
    pl = _Planner(b, kfiles, real, run.islink if run is not None else os.path.islink)
    if not inside(entry, root):
        pl.problem(None, "", f"{entry} is outside the repository root {root}: not built", "kustomize.outside")
        return b
    model = fluxmodel.kustomization(flux_ks) if flux_ks is not None else None
    kf_path = find_kfile(entry)
    if kf_path is not None:
        b.kfile_name = kf_path.name
        kf = read_kfile(kf_path, kfiles)
        kdata = dict(kf.data) if kf is not None else None
        pl.visit_dir(entry, None, "")
    else:
        kdata = None
        pl.b.visited.add(entry)
        res = pl.generated_resources(entry)
        for r in res:
            got = pl.resolve(entry, r, None, "resources")
            if got is None:
                continue
            if os.path.isdir(got):
                pl.visit_dir(got, None, r, 1)
            else:
                pl.add_file(got, None, r)
        kdata = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
        if res:
            kdata["resources"] = res
        else:
            kdata["namespace"] = "_placeholder"
    if kdata is None:
        b.generated = ""  # unparseable kustomization: built as it is, kubectl reports the error
    else:
        if model is not None:
            _apply_flux_fields(kdata, model, pl, entry)
        # origin annotations trace each output object to its source file; Flux itself sets them
        # when a kustomization has no resources ("kustomization.yaml is empty" otherwise)
        own = list(_strings(kdata.get("buildMetadata")))
        if "originAnnotations" not in own:
            b.plain = json.dumps(kdata, sort_keys=True, default=str)
        kdata["buildMetadata"] = [*(m for m in own if m != "originAnnotations"), "originAnnotations"]
        b.generated = json.dumps(kdata, sort_keys=True, default=str)
    loads = _loads(b)
    if loads > MAX_LOADS:
        pl.problem(None, "", f"building {display_path(entry)} would load kustomizations {loads} times (bases "
                   f"shared along many paths; kustomize loads each path again); the limit is {MAX_LOADS}: not built")
    if not b.problems:
        b.key = _key(b)
    return b


def _loads(b: Build) -> int:
    """How many kustomizations a build loads: kustomize loads a base once per path that reaches it (a
    diamond of shared bases doubles per level), which no per-folder check sees."""
    memo: dict[Path, int] = {}
    started: set[Path] = set()  # a cycle is kustomize's error to report, counted once here
    order: list[tuple[Path, bool]] = [(b.entry, False)]
    while order:
        d, done = order.pop()
        if d in memo:
            continue
        kids = b.edges.get(d, [])
        if done:
            memo[d] = min(1 + sum(memo.get(k, 1) for k in kids), MAX_LOADS + 1)
            continue
        if d in started:
            continue
        started.add(d)
        order.append((d, True))
        order.extend((k, False) for k in kids if k not in memo and k not in started)
    return memo.get(b.entry, 1)


def _apply_flux_fields(kdata: dict, m: fluxmodel.Kustomization, pl: _Planner, entry: Path) -> None:
    """The fields kustomize-controller adds to the kustomization it builds (resolve.flux_fields, resolve.components),
    with the planner's findings on a component the build cannot read."""
    kdata.update(resolve.flux_kustomization(kdata, m))
    comps = resolve.components(entry, m)
    if comps:
        kdata["components"] = list(_strings(kdata.get("components")))
        for c in comps:
            if c.refused:
                pl.problem(None, c.entry, f"spec.components entry {_short(c.entry)!r} {c.refused}")
                continue
            real = pl.resolve(entry, c.entry, None, "spec.components")
            if real is None:
                continue
            if not os.path.exists(real):
                if m.ignore_missing_components:
                    continue
                pl.problem(None, c.entry, f"spec.components entry {_short(c.entry)!r} does not exist")
                continue
            kdata["components"].append(c.entry)
            pl.visit_dir(real, None, c.entry, 1)


def _key(b: Build) -> str | None:
    """sha256 over everything the build reads: file contents (not times), links, the generated kustomization."""
    h = hashlib.sha256(b"v2\0")
    h.update(b.entry.relative_to(b.root).as_posix().encode() + b"\0" + b.kfile_name.encode() + b"\0")
    h.update(b.generated.encode() + b"\0")
    for rel in sorted(b.files):
        try:
            data = b.read(b.files[rel], b.root)
        except OSError:
            return None
        h.update(f"f\0{rel}\0{len(data)}\0".encode())
        h.update(data)
    for rel in sorted(b.links):
        h.update(f"l\0{rel}\0{b.links[rel]}\0".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Running a build


def _write_mirror(b: Build, mirror: Path, generated: str | None = None) -> None:
    for rel, real in b.files.items():
        dst = mirror / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b.read(real, b.root))  # the bytes the key was made of, read once per run
    for rel, target in sorted(b.links.items()):
        dst = mirror / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(dst):
            os.symlink(target, dst)
    entry = mirror / b.entry.relative_to(b.root)
    entry.mkdir(parents=True, exist_ok=True)
    if b.generated:
        for n in KUSTOMIZE_FILES:
            if n != b.kfile_name and (entry / n).exists():
                (entry / n).unlink()
        (entry / b.kfile_name).write_text(b.generated if generated is None else generated)


def run_kubectl(kubectl: str, d: Path, root: Path | None = None, tree: Path | None = None,
                deadline: sandbox.Deadline | None = None) -> tuple[bool, str]:
    """``kubectl kustomize d`` in the sandbox (validate/sandbox.py), which holds the host folder ``tree``
    (default ``root``) at the path ``root`` (default ``d``), read-only, and nothing else. Raises UsageError
    where no sandbox can be made."""
    root = Path(root or d)
    bwrap = _bwrap_or_refuse(kubectl)
    res = sandbox.run(bwrap, kubectl, {Path(tree or root): root},
                      ["kustomize", "--load-restrictor", "LoadRestrictionsNone", str(d)], deadline or sandbox.Deadline())
    if not res.ok:
        _refuse_without_sandbox(bwrap, kubectl)  # the build's failure, or the sandbox's: the probe tells them apart
    if res.limit is not None:
        return False, f"kustomize build stopped: it reached {res.limit}"
    return res.ok, res.out if res.ok else res.out.strip()


def _bwrap_or_refuse(kubectl: str) -> str:
    """The bubblewrap binary; refused at once where there is none (no process started to learn that)."""
    bwrap = sandbox.bwrap_path()
    if bwrap is None:
        _refuse(sandbox.probe(None, kubectl)[0])
    return bwrap


_PROBE = threading.Lock()  # two build threads failing at once ask one probe, not two


def _refuse_without_sandbox(bwrap: str, kubectl: str) -> None:
    """After a failed build only: whether the sandbox itself cannot start here (sandbox.probe runs `kubectl version`
    in one). A build that succeeded already answered that, so a passing run starts no probe."""
    with _PROBE:
        why, _ = sandbox.probe(bwrap, kubectl)
    if why is not None:
        _refuse(why)


def _refuse(why: str | None) -> NoReturn:
    raise UsageError(f"kustomize builds of untrusted files need a sandbox and none can be made here ({why}); "
                     "run with --kustomize never to validate without builds")


def sandbox_identity(kubectl: str) -> str:
    """What decides a build besides its files: our code, kubectl and bwrap (resolved path and file signature) and the
    sandbox's limits. kubectl's file is all of kubectl: the sandbox holds that one file and nothing else (no shell, no
    library: sandbox.py), so a wrapper script could not run there. Not asking it its version lets a run whose every
    verdict is cached start no sandbox at all."""
    bwrap = sandbox.bwrap_path() or ""
    return "\0".join([identity.code_digest(), identity.program(kubectl), identity.program(bwrap),
                      f"{sandbox.MEMORY}:{sandbox.CPU_SECONDS}:{sandbox.MAX_OUTPUT}"])


def _cache_get(cache: Path, key: str) -> tuple[bool, str] | None:
    doc = buildcache.read(cache, key)
    if doc is not None and isinstance(doc.get("ok"), bool) and isinstance(doc.get("out"), str):
        return doc["ok"], doc["out"]
    return None


def _holds_secret(out: str) -> bool:
    """Whether built output holds a Secret, judged on the parsed objects (kustomize flattens Lists), or Secret data
    anywhere in them (buildsecrets.held_values, the redaction's own model: a Secret in chart values the chart
    applies, one nested in any object)."""
    try:
        docs = load_all(out)
    except YAMLError:
        return True  # not judged: not cached
    return any(isinstance(d.data, dict) and (d.data.get("kind") in ("Secret", "SecretList", "List")
                                             or bool(buildsecrets.held_values(d.data))) for d in docs)


def build(b: Build, kubectl: str, cache: Path | None, deadline: sandbox.Deadline | None = None) -> tuple[bool, str]:
    """(ok, output or cleaned error). Served from ``cache`` when the key is known there.

    Only a passing build without a Secret in its inputs or output is stored; a cache folder inside
    the repository is never used (a pull request could commit an entry there)."""
    use_cache = (cache is not None and b.key is not None and not b.secret_input
                 and not inside(Path(realpath(cache)), b.root) and buildcache.usable(cache))
    key = None
    if use_cache and cache is not None:
        key = hashlib.sha256(f"{b.key}\0{sandbox_identity(kubectl)}".encode()).hexdigest()
        hit = _cache_get(cache, key)
        if hit is not None and hit[0]:
            return hit
    try:
        with tempfile.TemporaryDirectory(prefix="vg-kustomize-") as tmp:
            mirror = Path(tmp) / "repo"
            _write_mirror(b, mirror)
            ok, out = run_kubectl(kubectl, b.entry, root=b.root, tree=mirror, deadline=deadline)
            if not ok and b.plain:
                # the origin annotations are ours, not Flux's (kustomize-controller sets no buildMetadata), and
                # kustomize annotates each file's objects only when buildMetadata is set, failing on one whose
                # metadata.annotations is no map (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/
                # kusttarget.go makeCustomizedResMap, accumulateFile): a finding is what Flux's build says, so build
                # as it does and trace the objects another way (_OutputCheck._traced)
                _write_mirror(b, mirror, b.plain)
                ok, out = run_kubectl(kubectl, b.entry, root=b.root, tree=mirror, deadline=deadline)
    except OSError as exc:
        return False, f"the build could not be prepared: {exc.strerror or exc}"
    if not ok:
        out = clean_message(out, b.root, secret_values(b))
    elif cache is not None and key is not None and not _holds_secret(out):
        buildcache.write(cache, key, {"ok": ok, "out": out})
    return ok, out


# go-yaml quotes the scalar it could not convert in backquotes ("cannot unmarshal !!str `...` into int"): a
# value from a file the build read, never shown
_GO_YAML_VALUE = re.compile(r"`[^`]*`")


def secret_values(b: Build, docs: Iterable[Any] = ()) -> set[bytes]:
    """Values a build may read that must never be printed (validate/buildsecrets.py): Secret data, generator
    literals, every secretGenerator input and every file the build holds that is not Kubernetes objects (a generator
    input), as the bytes of the file; the values of the Secrets in ``docs`` (its output); and each piece of those
    values a replacement of the build can cut out (buildsecrets.pieces)."""
    out: set[bytes] = set()
    delimiters: set[str] = set()
    for d in docs:
        if isinstance(d.data, dict):
            out |= buildsecrets.nested_values(d.data)
    for real in set(b.files.values()):
        try:
            raw = b.read(real, b.root)
        except (safefile.FileRefused, OSError):
            continue
        try:
            docs_in = load_all(b.text(real))
        except (safefile.FileRefused, UnicodeError, YAMLError):
            docs_in = []
        maps = [d.data for d in docs_in if isinstance(d.data, dict)]  # objects, and kustomizations without a kind
        if real in b.secret_files or not any(isinstance(m.get("kind"), str) for m in maps):
            out |= buildsecrets.input_values(raw)
        for m in maps:
            out |= buildsecrets.nested_values(m)
        delimiters |= {d for doc in docs_in for d in buildsecrets.source_delimiters(doc.data)}
    return out | buildsecrets.pieces(out, delimiters)


_KLOG = re.compile(r"^[EWIF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.]+:\d+\] ")


def clean_message(msg: str, root: Path | None = None, secrets: Iterable[bytes] = ()) -> str:
    """kustomize's own message out of kubectl's log line (klog's Go quoting undone), without any form of
    ``secrets`` (validate/buildsecrets.py) or a value go-yaml quotes, paths relative to the repository, escaped,
    truncated."""
    msg = msg.strip()
    msg = _KLOG.sub("", msg)
    m = re.search(r'"command failed" err=(?:"(.*)"|<(.*)>)\s*$', msg, re.S)
    if m:
        msg = buildsecrets.go_unquote(m.group(1)) if m.group(1) is not None else m.group(2)
    if msg.startswith("error: "):
        msg = msg[len("error: "):]
    msg = _GO_YAML_VALUE.sub("`<value>`", buildsecrets.redact(msg, secrets))
    if root is not None:
        for base in {str(root), realpath(root)}:
            msg = msg.replace(base + "/", "").replace(base, ".")
    msg = esc(" ".join(msg.split()))
    return _short(msg, MAX_MESSAGE)


# --------------------------------------------------------------------------------------------------
# Choosing builds


def plans(kdirs: Iterable[Path], objects: list[Obj], run: Run, graph: flux.Graph | None,
          scan_roots: Iterable[str]) -> list[Build]:
    """The builds Flux runs (one per distinct Flux Kustomization entry), then top-level kustomizations no build reached."""
    opts = run.opts
    out: list[Build] = []
    seen: dict[tuple, Build] = {}
    visited: set[Path] = set()
    if graph is not None:
        for ks in objects:
            if not flux.is_kind(ks, flux.FLUX_KS, "Kustomization") or not graph.kustomization(ks).path_set:
                continue
            if graph.dead(ks):
                continue  # never created: no controller builds it (validate/unapplied.py notes it)
            resolved = graph.resolve(ks)  # the graph's answer: this repository's source, its cluster's root
            if resolved is None:
                continue  # another source, a ${...} path, or flux.path reports it
            found, entry = resolved
            root = Path(opts.repo_root) if opts.repo_root else (git_toplevel(found) or found)
            b = plan(_bounded(root, run), entry, ks, run.kfiles, run.real)
            sig = (b.entry, b.generated)
            if sig in seen:
                seen[sig].also.append(ks)
                continue
            seen[sig] = b
            out.append(b)
            visited |= b.visited
    if out:
        return out + _unblocked(out, run)  # Flux builds these and nothing else; bootstrap and tool folders are not Flux's
    entries: set[Path] = set()
    for d in sorted(kdirs, key=lambda x: (len(Path(x).parts), str(x))):
        real = Path(realpath(d))
        if real in visited or any(e in real.parents for e in entries):
            continue  # Flux never builds a folder inside one it builds unless that build reads it
        kfile = find_kfile(real)
        kf = read_kfile(kfile, run.kfiles) if kfile is not None else None
        if kf is not None and kf.data.get("kind") == "Component":
            continue  # only built as part of a kustomization that includes it
        if kf is not None and kf.data.get("helmCharts"):
            # needs helm and the network: a bootstrap kustomization (`kustomize build --enable-helm`), not something
            # Flux builds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go builds with
            # DisabledPluginConfig, so kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/
            # HelmChartInflationGenerator.go refuses it: "must specify --enable-helm"); not built, and said so once
            b = Build(Path(realpath(_root_for(real, opts, scan_roots))), real)
            # by construction no Flux Kustomization applies it (a Flux build that read it fails, reported as such
            # above): what another tool applies (Argo CD, a bootstrap script) is a note, as validate/unapplied.py says
            b.problems.append(Finding(display_path(kf.path), _line_of_key(kf, "helmCharts"), None, "",
                                      f"{NOT_APPLIED}: this kustomization inflates Helm charts (helmCharts), which Flux "
                                      "never does (a HelmRelease does), and validate does not run helm: what it "
                                      "builds is not checked", HELM_CHARTS, "note"))
            out.append(b)
            visited.add(real)
            continue
        root = _root_for(real, opts, scan_roots)
        b = plan(_bounded(root, run), real, None, run.kfiles, run.real)
        out.append(b)
        visited |= b.visited
    return out + _unblocked(out, run)


def _unblocked(builds: list[Build], run: Run) -> list[Build]:
    """A Flux build that validate does not run only because it reads a remote input (kustomize.remote: Flux fetches
    it, validate does not) still has parts it can run: kustomize builds each folder a kustomization includes as a
    target of its own and hands that output to the parent's transformers (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/internal/target/kusttarget.go accumulateDirectory), so the largest included folders that reach nothing remote
    are built alone. Their files are then judged as kustomize emits them (a selector that `labels: includeSelectors`
    adds), not as written; only the parents' own transformers are left out, as they are when a file is judged alone."""
    extra: list[Build] = []
    seen = {b.entry for b in builds}
    for b in builds:
        if not b.problems or any(p.rule != "kustomize.remote" for p in b.problems):
            continue
        todo = list(b.edges.get(b.entry, []))
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            kfile = find_kfile(d)
            kf = read_kfile(kfile, run.kfiles) if kfile is not None else None
            if kf is None or kf.data.get("kind") == "Component":
                continue  # a component is built only as part of what includes it
            sub = plan(b.root, d, None, run.kfiles, run.real)
            if not sub.problems:
                extra.append(sub)
            elif all(p.rule == "kustomize.remote" for p in sub.problems):
                todo.extend(b.edges.get(d, []))  # the remote input is further down: its siblings still build
    return extra


def _bounded(root: Path, run: Run) -> Path:
    """A build's root never reaches above the run's repository boundary (boundary.py)."""
    if run.boundary is None:
        return root
    real = Path(realpath(root))
    return real if inside(real, run.boundary) else run.boundary


def _root_for(d: Path, opts: Options, scan_roots: Iterable[str]) -> Path:
    if opts.repo_root:
        return Path(opts.repo_root)
    g = git_toplevel(d)
    if g is not None:
        return g
    for start in [d, *d.parents]:
        if os.path.isfile(start / ".sops.yaml") or os.path.isdir(start / "kubernetes"):
            return start
    for r in scan_roots:
        rr = Path(realpath(r))
        if inside(d, rr):
            return rr
    return d


# --------------------------------------------------------------------------------------------------
# Validating the output


def _origin(md: dict) -> dict:
    ann = md.get("annotations")
    if not isinstance(ann, dict) or ORIGIN not in ann:
        return {}
    raw = ann.pop(ORIGIN)
    if not ann:
        md.pop("annotations")
    out = {}
    for ln in str(raw).splitlines():
        if ln.startswith(("path:", "configuredIn:")):
            k, v = ln.split(":", 1)
            out[k] = v.strip().strip("'\"")
    return out


def check_dirs(kdirs: list[Path], objects: list[Obj], store: SchemaStore, run: Run, skip: set[str],
               graph: flux.Graph | None = None, scan_roots: Iterable[str] = ()) -> tuple[list[Finding], int, set[Path]]:
    """(findings, failed builds, real paths of the source files that successful builds emitted)."""
    opts = run.opts
    kubectl = kubectl_path(opts.repo_root)
    if kubectl is None:
        if opts.kustomize == "always":
            raise UsageError("kubectl is not on PATH (needed for --kustomize always)")
        if opts.kustomize == "never" or not kdirs:
            return [], 0, set()
        # auto without kubectl: say so once, as a warning (the run still passes; --kustomize always fails it)
        first = sorted(kdirs)[0]
        kfile = find_kfile(first)
        return [Finding(display_path(kfile or first), None, None, "",
                        f"kubectl is not on PATH: {len(kdirs)} kustomize build{'s' * (len(kdirs) != 1)} not run, so "
                        "what they emit (and files they need, such as encrypted Secrets) is not checked; install "
                        "kubectl, or pass --kustomize never to skip builds on purpose, --kustomize always to fail",
                        NO_KUBECTL, "warning")], 0, set()
    builds = plans(kdirs, objects, run, graph, scan_roots)
    cache = store.cache_dir / "kustomize-builds" if opts.kustomize_cache else None
    by_file: dict[Path, list] = {}
    for o in objects:
        if o.path is not None:
            by_file.setdefault(run.real(o.path), []).append(o)
    deadline = sandbox.Deadline()  # one budget for every build of this run
    done = {(b.entry, b.generated) for b in builds if b.flux_ks is not None}
    # the clusters whose sync Kustomization only the build of its own folder completes (_instances): then Flux builds
    # these and what they declare, and nothing else
    opened = _open_files(graph) if graph is not None else set()
    findings: list[Finding] = []
    covered: set[Path] = set()
    failed = 0
    with ThreadPoolExecutor(max_workers=2) as pool, sandbox.stopped_on_unwind(pool):
        outputs = _Outputs(pool, kubectl, cache, deadline)
        found = _instances(kdirs, builds, run, scan_roots, by_file, opened, outputs.run_all, done) if opened else []
        if found:
            builds = [b for b in builds if b.flux_ks is not None]
            run.flux_reads = {f for b in [*builds, *found] for f in b.files.values()}
        for b in builds:
            if not b.problems:
                b.problems.extend(_refused_inputs(b, run))
        runnable = [b for b in builds if not b.problems]
        for b in builds:
            if b.problems:
                findings.extend(b.problems)
                # a remote resource alone is a warning: the build is not run, but nothing is proven wrong
                failed += any(p.severity == "error" for p in b.problems)
        verdicts = (_Verdicts(cache, store, skip, graph, by_file, kubectl, opts, objects, opened)
                    if (runnable or found) and cache is not None else None)
        out_check = _OutputCheck(store, skip, by_file, run.kfiles, opts, objects)
        pending = [*runnable, *found]
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            # a build's verdict stands for its output check; its output is still read when it may declare Flux
            # Kustomizations that are built next (_declared), from the run's one build of those inputs (_Outputs)
            keys = [verdicts.key(b) if verdicts is not None else None for b in pending]
            hits = [verdicts.get(k, b) if verdicts is not None and k is not None else None for b, k in zip(pending, keys)]
            needed = [b for b, hit in zip(pending, hits)
                      if hit is None or (opened and b.flux_ks is not None and hit[3])]
            results = dict(zip(map(id, needed), outputs.run_all(needed)))
            children: list[Build] = []
            for b, vkey, hit in zip(pending, keys, hits):
                docs: list | None = None
                if id(b) in results:
                    ok, out = results[id(b)]
                    if not ok:  # a verdict is stored for passing builds only
                        findings.append(_build_failure(b, out, run.kfiles))
                        failed += 1
                        continue
                    read = _output_documents(b, out, graph)
                    if isinstance(read, Finding):  # substitution over its budget (kustomize emits valid YAML)
                        findings.append(read)
                        failed += 1
                        continue
                    docs = read
                if hit is not None:
                    findings.extend(hit[0])  # the verdict of the same inputs, tools and context: no output check
                    covered |= hit[1]
                    _record_copies(b, hit[2], graph)
                    if docs is not None:
                        _unannotated(docs)  # as the output check leaves them
                else:
                    assert docs is not None
                    mine: set[Path] = set()
                    fs = out_check.check(b, docs, mine)
                    findings.extend(fs)
                    covered |= mine
                    copies = built_copies(docs)
                    _record_copies(b, copies, graph)
                    if verdicts is not None and vkey is not None:
                        verdicts.put(vkey, b, fs, mine, docs, copies)
                if docs is not None and opened and b.flux_ks is not None:
                    children += _declared(b, docs, run, by_file, opened, done)
            pending = children
    return findings, failed, covered


class _Outputs:
    """The run's builds: each distinct set of inputs (Build.key: every file, link and the generated kustomization) is
    built once and its result shared, in memory only, by every build with those inputs (a cluster folder built to find
    its sync, then as that sync; one folder reached from several Kustomizations); two builds run at once."""

    def __init__(self, pool: ThreadPoolExecutor, kubectl: str, cache: Path | None,
                 deadline: sandbox.Deadline) -> None:
        self.pool, self.kubectl, self.cache, self.deadline = pool, kubectl, cache, deadline
        self.done: dict[tuple, tuple[bool, str]] = {}

    def run_all(self, todo: list[Build]) -> list[tuple[bool, str]]:
        # a build without a key (a file it could not read) is only itself: built, never shared
        firsts: dict[tuple, Build] = {}
        for b in todo:
            sig = (b.key, b.root) if b.key is not None else (None, id(b))
            if sig not in self.done:
                firsts.setdefault(sig, b)
        if firsts:
            _bwrap_or_refuse(self.kubectl)  # one clear line where no bubblewrap is installed, before any build
        built = dict(zip(firsts, self.pool.map(lambda b: build(b, self.kubectl, self.cache, self.deadline),
                                               firsts.values())))
        self.done.update((sig, res) for sig, res in built.items() if sig[0] is not None)
        return [self.done[(b.key, b.root)] if b.key is not None else built[(None, id(b))] for b in todo]


def built_copies(docs: list) -> list[tuple[str, ...]]:
    """(apiVersion, kind, namespace, name, digest of the copy: flux.copy_digest) of each object a build emitted: what
    the duplicate rule compares, the copy each Flux Kustomization applies."""
    out: list[tuple[str, ...]] = []
    for d in docs:
        data = d.data
        md = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(md, dict) or not isinstance(data.get("kind"), str):
            continue
        out.append((str(data.get("apiVersion", "")), data["kind"], str(md.get("namespace") or ""),
                    str(md.get("name") or ""), flux.copy_digest(data)))
    return out


def _record_copies(b: Build, copies: list[tuple[str, ...]], graph: flux.Graph | None) -> None:
    if graph is not None and b.flux_ks is not None:
        for ks in (b.flux_ks, *b.also):
            graph.built_copies[id(ks)] = copies


def _open_files(graph: flux.Graph) -> set[Path]:
    """Files holding a Flux Kustomization whose spec.path names a folder only through a variable (``${...}``) that a
    parent fills: postBuild substitution of the parent's build output, or a kustomize patch of the folder that applies
    it (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go build, then
    fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables). The graph holds one object per
    file and cannot say which folder each cluster's copy builds; the build that applies it can (_declared)."""
    out: set[Path] = set()
    for ks in graph.all:  # as written: whether one is applied, only a build that declares it tells
        if ks.path is not None and flux.is_kind(ks, flux.FLUX_KS, "Kustomization"):
            m = fluxmodel.kustomization(ks)
            if m.path_set and "${" in (m.path or ""):
                out.add(graph.real(ks.path))
    return out


def _instances(kdirs: list[Path], builds: list[Build], run: Run, scan_roots: Iterable[str],
               by_file: dict[Path, list[Obj]], opened: set[Path], run_all: Callable[[list[Build]], list],
               done: set) -> list[Build]:
    """The Flux builds of clusters whose sync Kustomization is completed by the folder it builds: a top-level
    kustomization that no build reaches, reads a file of ``opened`` and, built, declares a Flux Kustomization whose
    spec.path names that folder itself (a cluster's entry patching a shared flux-system with its own path and
    variables). That Kustomization is the one the cluster holds; its build is the folder's build as Flux runs it.
    The folders' plain builds only find it: their output is not judged."""
    reached = set().union(*(b.visited for b in builds if b.flux_ks is not None))
    found: list[Build] = []
    for d in sorted({run.real(Path(k)) for k in kdirs}):
        if d in reached:
            continue
        kfile = find_kfile(d)
        kf = read_kfile(kfile, run.kfiles) if kfile is not None else None
        if kf is None or kf.data.get("kind") == "Component" or kf.data.get("helmCharts"):
            continue
        b = plan(_bounded(_root_for(d, run.opts, scan_roots), run), d, None, run.kfiles, run.real)
        if not b.problems and opened.intersection(b.files.values()):
            found.append(b)
    tops = [b for b in found if not any(o is not b and b.entry in o.visited for o in found)]
    if tops:
        _bwrap_or_refuse(kubectl_path(run.opts.repo_root) or "kubectl")
    out: list[Build] = []
    for b, (ok, text) in zip(tops, run_all(tops)):
        try:
            docs = load_all(text) if ok else []
        except YAMLError:  # pragma: no cover - kustomize emits valid YAML
            continue
        out += _declared(b, docs, run, by_file, opened, done, own=True)
    return out


def _declared(b: Build, docs: list, run: Run, by_file: dict[Path, list[Obj]], opened: set[Path], done: set,
              own: bool = False) -> list[Build]:
    """The builds of the Flux Kustomizations that ``b``'s output declares from a file of ``opened``, each planned from
    its declared form: the spec the cluster holds, after the kustomize patches and the parent's postBuild substitution
    (kustomize-controller builds each Kustomization from its own spec: fluxcd/pkg@kustomize/v1.35.4:kustomize/
    kustomize_generator.go generateKustomization adds its spec.patches, targetNamespace and prefixes, so an object is
    judged with the patches of the Kustomization that applies it). ``own``: only one that builds ``b``'s own folder
    (a cluster's sync). A child reading another source than its parent is not this repository's to build."""
    parent = b.flux_ks.data.get("spec") if b.flux_ks is not None else None
    parent_src = parent.get("sourceRef") if isinstance(parent, dict) else None
    out: list[Build] = []
    for data, spec, path, written in _candidates(b, docs, by_file, opened):
        src = spec.get("sourceRef")
        if not own and isinstance(parent_src, dict) and isinstance(src, dict) and (
                (src.get("kind"), src.get("name")) != (parent_src.get("kind"), parent_src.get("name"))):
            continue
        target = b.root / path.lstrip("/")
        if not os.path.isdir(target) or not inside(run.real(target), b.root):
            continue
        target = run.real(target)
        if own != (target == b.entry):
            continue  # a sync is its own folder's; a child building its parent's folder is that sync itself
        ks = dataclasses.replace(written[0], data=data, _lined=written[0].lined())
        child = plan(b.root, target, ks, run.kfiles, run.real)
        post = fluxmodel.kustomization(ks).post_build
        child.values = dict(post.substitute) if post is not None else {}
        if run.flux_reads is not None or own:
            run.flux_reads = (run.flux_reads or set()) | set(child.files.values())
        if child.problems or (child.entry, child.generated) in done:
            continue  # a remote or refused input: not built, as for every Flux build (plans)
        done.add((child.entry, child.generated))
        out.append(child)
    return out


def _candidates(b: Build, docs: list, by_file: dict[Path, list[Obj]],
                opened: set[Path]) -> Iterator[tuple[dict, dict, str, list[Obj]]]:
    """(data, spec, spec.path, the objects written for it) of each Flux Kustomization of ``b``'s output that _declared
    may build: a folder path without a variable, named as a Kustomization of a file of ``opened`` that ``b`` reads."""
    for doc in docs:
        data = doc.data
        if (not isinstance(data, dict) or data.get("kind") != "Kustomization"
                or not str(data.get("apiVersion", "")).startswith(flux.FLUX_KS)):
            continue
        spec = data.get("spec")
        if not isinstance(spec, dict):
            continue
        path = spec.get("path")
        if not isinstance(path, str) or "${" in path:
            continue
        name = dig(data, "metadata", "name")
        written = [o for f in sorted(opened.intersection(b.files.values())) for o in by_file.get(f, [])
                   if flux.is_kind(o, flux.FLUX_KS, "Kustomization") and o.name == name]
        if written:
            yield data, spec, path, written


def declares(b: Build, docs: list, by_file: dict[Path, list[Obj]], opened: set[Path]) -> bool:
    """Whether _declared may build a child of ``b`` from this output, decided by what the verdict's key holds (the
    output, the files ``b`` reads and their objects): a candidate whose path does not name ``b``'s own folder (a
    path that names it lexically names it after links too, and _declared skips it). A cached verdict that declares
    still needs the output."""
    return any(os.path.normpath(b.root / path.lstrip("/")) != str(b.entry)
               for _, _, path, _ in _candidates(b, docs, by_file, opened))


class _Verdicts:
    """The cached verdicts of passing builds (validate/buildcache.py): findings and covered files, keyed on the
    build's inputs, the tools and everything else the output check reads; never the output."""

    def __init__(self, cache: Path, store: SchemaStore, skip: set[str], graph: flux.Graph | None,
                 by_file: dict[Path, list[Obj]], kubectl: str, opts: Options, objects: list[Obj],
                 opened: set[Path]) -> None:
        schemas = store.identity()
        self.opened = opened  # the files _declared reads Kustomizations from (_open_files)
        self.dir = cache.parent / "kustomize-verdicts"
        self.usable = schemas is not None and buildcache.usable(self.dir)
        self.tools = f"{sandbox_identity(kubectl)}\0{schemas}" if self.usable else ""
        self.skip, self.graph, self.by_file = sorted(skip), graph, by_file
        self.cwd = os.getcwd()  # findings name files relative to it
        self._digests: dict[int, str] = {}  # id(source object) -> digest of its data (objects live as long as the run)
        # the policy rules judge built objects with the run's options and look up, among the run's objects, what
        # policy.lookups names (_OutputCheck._policy): that much of the run is the verdict's context, no more (an
        # edit elsewhere in the repository leaves the verdict standing)
        options = {k: sorted(map(str, v)) if isinstance(v, (set, frozenset)) else v
                   for k, v in dataclasses.asdict(opts).items()}
        looked_up = {name: [self._data(o) for o in objs] for name, objs in policy.lookups(objects).items()}
        self.world = buildcache.digest([options, looked_up]) if self.usable else ""

    def key(self, b: Build) -> str | None:
        # a cache folder inside the repository is never used (a pull request could commit an entry there)
        if not self.usable or b.key is None or inside(Path(realpath(self.dir)), b.root):
            return None
        # the source objects findings land on, as the graph left them (named, namespaced, substituted)
        objs = [[rel, o.file, o.ident, o.encrypted, o.index, o.sub, self._data(o)]
                for rel in sorted(b.files) for o in self.by_file.get(b.files[rel], [])]
        context = [self.cwd, str(b.root), str(b.entry), b.kfile_name, self.skip, buildcache.digest(self._values(b)),
                   objs, self.world]
        return buildcache.verdict_key(b.key, self.tools, context)

    def _values(self, b: Build) -> object:
        """The postBuild variables substituted into the build's output (_output_documents): those a Flux
        Kustomization known only from a build's output declares (``Build.values``), else the graph's."""
        if b.values is not None:
            return ["declared", b.values]
        return self.graph.variable_values(b.flux_ks) if self.graph is not None and b.flux_ks is not None else None

    def _data(self, o: Obj) -> str:
        d = self._digests.get(id(o))
        if d is None:
            d = self._digests[id(o)] = buildcache.digest(o.data)
        return d

    def get(self, key: str, b: Build) -> tuple[list[Finding], set[Path], list[tuple[str, ...]], bool] | None:
        doc = buildcache.read(self.dir, key)
        return buildcache.verdict(doc, b.root) if doc is not None else None

    def put(self, key: str, b: Build, findings: list[Finding], covered: set[Path], docs: list,
            copies: list[tuple[str, ...]]) -> None:
        """Stored unless a finding shows a value the build could read as secret (then it is recomputed each run)."""
        raw = secret_values(b, docs) if holds_secrets(b, docs, self.by_file) else set()
        if b.values is not None:
            raw |= {v.encode() for v in b.values.values()}
        else:
            values = self.graph.variable_values(b.flux_ks) if self.graph is not None and b.flux_ks is not None else None
            raw |= {v.encode() for v in values[0].values()} if values is not None else set()
        secrets = {f for v in raw for f in buildsecrets.forms(v)}
        if buildcache.carries(findings, secrets):
            return
        buildcache.write(self.dir, key, buildcache.record(findings, covered, b.root, copies,
                                                             declares(b, docs, self.by_file, self.opened)))


def holds_secrets(b: Build, docs: list, by_file: dict[Path, list[Obj]]) -> bool:
    """A secretGenerator, or a Secret with a value in clear among the build's source objects (``by_file``) or its
    output, at any depth of them (buildsecrets.held_values): whatever its sops metadata says (policy.clear_values: sops leaves in clear what the file's own rule does
    not name, and kustomize copies that value like any other)."""
    def clear(data: object) -> bool:
        if not isinstance(data, dict):
            return False
        if data.get("kind") == "Secret":
            return bool(policy.clear_values(data))
        return bool(buildsecrets.held_values(data))  # Secret data inside it: a List's items, a chart's values

    return (b.secret_input or any(clear(d.data) for d in docs)
            or any(clear(o.data) for real in set(b.files.values()) for o in by_file.get(real, [])))


def _refused_inputs(b: Build, run: Run) -> list[Finding]:
    """A build is never run on a file whose YAML our reader refused: kubectl has no alias budget and
    no depth limit, so an alias bomb in a pull request would take gigabytes and minutes there."""
    out = []
    for real in sorted(set(b.files.values())):
        if real not in run.yaml_verdicts:  # not read as a manifest (a generator input, an ignored file)
            try:
                load_all(b.text(real))
                run.yaml_verdicts[real] = None
            except (safefile.FileRefused, YAMLError) as exc:
                run.yaml_verdicts[real] = unsafe_for_kubectl(exc)
        why = run.yaml_verdicts[real]
        if why is not None:
            out.append(Finding(display_path(real), None, None, "",
                               f"the kustomize build of {display_path(b.entry)} is not run: this file is refused ({why})",
                               "kustomize"))
    return out


def _build_failure(b: Build, out: str, kfiles: dict) -> Finding:
    """A failed build, on the kustomization entry the message names, else on the Flux Kustomization's path."""
    kfile = b.entry / b.kfile_name
    kf = read_kfile(kfile, kfiles) if os.path.isfile(kfile) else None
    if kf is None and b.flux_ks is not None:
        return b.flux_ks.finding("/spec/path", f"kustomize build failed: {out}", "kustomize")
    line = _error_line(kf, out) if kf else None
    return Finding(display_path(kfile), line, None, "", f"kustomize build failed: {out}", "kustomize")


def _output_documents(b: Build, out: str, graph: flux.Graph | None) -> list | Finding:
    """The documents of a build's output, after Flux's postBuild substitution (velero_gitops.varsub, with the variables
    the graph knows for the Flux Kustomization)."""
    try:
        if b.values is not None:
            out = varsub.substitute_documents(out, varsub.lookup_from(b.values, False) if b.values else None)
        elif b.flux_ks is not None and graph is not None:
            out = varsub.substitute_documents(out, graph.variables(b.flux_ks))
    except varsub.TooLarge as exc:
        if b.flux_ks is not None:
            return b.flux_ks.finding("/spec/postBuild", f"the output of the kustomize build of {display_path(b.entry)}: "
                                     f"{exc}", substitution.TOO_LARGE)
        return Finding(display_path(b.entry / b.kfile_name), None, None, "", f"the output of its kustomize build: {exc}",
                       substitution.TOO_LARGE)
    try:
        return load_all(out)
    except YAMLError as exc:  # pragma: no cover - kustomize emits valid YAML
        return Finding(display_path(b.entry / b.kfile_name), None, None, "", f"kustomize output: {exc.message}", "kustomize")


def _unannotated(docs: list) -> list[tuple[dict | None, bool] | None]:
    """Each built object's (origin, sealed), taken off it as Flux applies it: the origin annotation that we asked
    kustomize for (None when the build carries none: kustomize writes one on every object when asked, kusttarget.go,
    so none at all means the build ran as Flux runs it, without) and the sops metadata (whether it had a mapping
    there). None for a document that is not a mapping. The one place a build's documents are changed, whether their
    verdict is computed (_OutputCheck.check) or read from the cache (check_dirs)."""
    traced = any(isinstance(d.data, dict) and isinstance(a := dig(d.data, "metadata", "annotations"), dict)
                 and ORIGIN in a for d in docs)
    out: list[tuple[dict | None, bool] | None] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            out.append(None)
            continue
        origin = _origin(mapping(data, "metadata")) if traced else None
        out.append((origin, isinstance(data.pop("sops", None), dict)))
    return out


class _OutputCheck:
    """Schema validation of built objects; findings land on the source object when the origin annotation finds it."""

    def __init__(self, store: SchemaStore, skip: set[str], by_file: dict[Path, list[Obj]], kfiles: dict,
                 opts: Options, objects: list[Obj]) -> None:
        self.store, self.skip, self.by_file, self.kfiles = store, skip, by_file, kfiles
        self.opts, self.objects = opts, objects

    def check(self, b: Build, docs: list, covered: set[Path]) -> list[Finding]:
        """Findings on the output of ``b``; adds the source files it emitted to ``covered``.

        A build that holds Secret data (a secretGenerator, a Secret among its files or its output) may have copied
        it anywhere (a replacement, with a delimiter a piece of it): no finding on its objects quotes a value, and
        every finding is redacted of every form of its secret values (validate/buildsecrets.py)."""
        findings: list[Finding] = []
        hidden = (f"the build of {display_path(b.entry)} holds Secret data, which kustomize can copy into any field"
                  if holds_secrets(b, docs, self.by_file) else None)
        for doc, read in zip(docs, _unannotated(docs)):
            data = doc.data
            if read is None:
                continue
            md = mapping(data, "metadata")
            origin, sealed = read
            if origin is None:
                origin = self._traced(b, data)
            kind, av = data.get("kind"), data.get("apiVersion")
            # with sops metadata, Flux decrypts what is encrypted and applies the rest as written: in clear when
            # nothing is encrypted (the metadata is the file's own word, policy.holds_secret_data)
            if kind == "Secret" and (holds_secret_data(data) if sealed else _plaintext(data)):
                name = str(md.get("name", ""))
                if "configuredIn" in origin:
                    findings.append(self._generated_secret(b, origin, name))
                else:
                    findings += self._built_plaintext(b, origin, name)
            if not isinstance(kind, str) or not isinstance(av, str) or kind in self.skip or f"{av}/{kind}" in self.skip:
                continue
            if "path" in origin:
                real = _unmirror(b, b.entry.relative_to(b.root), origin["path"])
                if real is not None:
                    covered.add(real)
            if self.opts.policy:
                findings += self._policy(b, doc, origin, str(md.get("name", "")), hidden)
            try:
                validator = self.store.validator(av, kind)
            except SchemaError:
                continue  # reported on the source file
            if validator is None or validator.is_valid(data):
                continue
            findings.extend(self._located(b, doc, origin, str(md.get("name", "")), validator, hidden))
        if hidden and findings:
            values = secret_values(b, docs)
            findings = [dataclasses.replace(f, message=buildsecrets.redact(f.message, values),
                                            obj=f.obj and buildsecrets.redact(f.obj, values)) for f in findings]
        return findings


    def _traced(self, b: Build, data: dict) -> dict:
        """The origin of a built object when the build carries none: the one file of the build holding an object of
        its kind whose name is the built one, or inside it (a namePrefix/nameSuffix), as an origin ``path``."""
        kind, name = data.get("kind"), dig(data, "metadata", "name")
        if not isinstance(name, str) or not name:
            return {}
        rels = [(rel, o.name == name) for rel, real in sorted(b.files.items()) for o in self.by_file.get(real, [])
                if o.kind == kind and o.name and o.name in name]
        exact = {rel for rel, same in rels if same}
        found = exact or {rel for rel, _ in rels}
        if len(found) != 1:
            return {}
        return {"path": os.path.relpath(next(iter(found)), b.entry.relative_to(b.root).as_posix())}

    def _generated_secret(self, b: Build, origin: dict, name: str) -> Finding:
        """A Secret a generator builds from values kept in clear in the repository (literals, plain env files):
        what Flux applies is a plaintext Secret, judged on the built object."""
        _, file, line = _source(b, origin, "Secret", name, self.by_file, self.kfiles)
        return Finding(file or display_path(b.entry / b.kfile_name), line, None, "",
                       f"the generator of Secret {esc(name)} builds it from values in clear in the repository: "
                       "encrypt its input files with sops (Flux decrypts them) or generate it outside Git; if none "
                       "of its inputs is a credential, make it a configMapGenerator",
                       "secret.unencrypted")

    def _built_plaintext(self, b: Build, origin: dict, name: str) -> list[Finding]:
        """A Secret the build emits in clear while its source was not a plaintext Secret (that one the reader reports):
        a patch, a replacement, a generator merge or a kind change wrote the values. What Flux applies is the built
        object (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go builds, then
        decrypts what carries sops metadata), so that is what is judged."""
        src, file, line = _source(b, origin, "Secret", name, self.by_file, self.kfiles)
        if src is not None and holds_secret_data(src.data):
            return []  # the source Secret is plaintext itself: reported once, on its file
        return [Finding(file or display_path(b.entry / b.kfile_name), line or (src.line if src else None),
                        f"Secret//{esc(name)}" if name else None, "",
                        f"the kustomize build of {display_path(b.entry)} emits Secret {esc(name)} with values in clear "
                        "(a patch, replacement, generator merge or resource in another format writes them): encrypt "
                        "what supplies them with sops, or make the Secret outside Git", "secret.unencrypted")]

    def _policy(self, b: Build, doc: Any, origin: dict, name: str, hidden: str | None) -> list[Finding]:
        """The Velero policy on the object as Flux applies it: a Flux Kustomization's patches, a parent's patches and
        postBuild substitution can change a value its file shows (kustomize-controller@v1.9.4
        internal/controller/kustomization_controller.go: build, substitute, then apply the result). What the file
        itself already shows is reported on the file; only what the build changed is reported here."""
        data = doc.data
        built = Obj(display_path(b.entry / b.kfile_name), None, doc.index, data, doc.line)
        if not policy.judged(built):
            return []
        src, file, line = _source(b, origin, data["kind"], name, self.by_file, self.kfiles)
        own = {(f.pointer, f.rule, f.message) for f in policy.check([src], self.opts, self.objects)} if src else set()
        out = []
        for f in policy.check([built], self.opts, self.objects):
            if (f.pointer, f.rule, f.message) in own:
                continue
            where = f" (in what Flux applies: the build of {display_path(b.entry)} changes the value this file shows)"
            if hidden:  # the rule's own words: a message of the rule may quote the value
                f = dataclasses.replace(f, message=f"{RULES[f.rule].doc if f.rule in RULES else f.rule} (value not "
                                        f"shown: {hidden})")
            if src is not None:
                out.append(Finding(src.file, src.line_of(f.pointer), src.ident, f.pointer, f.message + where, f.rule,
                                   f.severity))
            else:
                out.append(Finding(file or built.file, line, f.obj, f.pointer, f.message + where, f.rule, f.severity))
        return out

    def _located(self, b: Build, doc: Any, origin: dict, name: str, validator: Any, hidden: str | None) -> list[Finding]:
        data = doc.data
        src, file, line = _source(b, origin, data["kind"], name, self.by_file, self.kfiles)
        built = Obj(file or display_path(b.entry / b.kfile_name), None, doc.index, data, doc.line)
        out: list[Finding] = []
        shown = schema_findings(built, validator)
        for raw, f in zip(shown, schema_findings(built, validator, hidden) if hidden else shown, strict=True):
            if "${" in raw.message:
                continue  # a value Flux substitutes from a source unknown here (postBuild.substituteFrom)
            if src is not None:
                out.append(Finding(src.file, src.line_of(f.pointer), src.ident, f.pointer, f.message, f.rule, f.severity))
            else:
                out.append(Finding(built.file, line, f.obj, f.pointer,
                                   f.message + " (in the kustomize build output)", f.rule, f.severity))
        return out


def _plaintext(secret: dict) -> bool:
    """A built Secret holds values in clear: some value is not a sops ``ENC[...]`` (Flux decrypts sops-encrypted
    generator inputs: fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go)."""
    if not holds_secret_data(secret):
        return False
    values = []
    for key in ("data", "stringData"):
        block = secret.get(key)
        for v in (block.values() if isinstance(block, dict) else []):
            text = str(v)
            if key == "data":
                try:
                    text = base64.b64decode(text, validate=False).decode("utf-8", "replace")
                except ValueError:
                    pass
            values.append(text)
    return any("ENC[" not in v for v in values)


def _source(b: Build, origin: dict, kind: str, name: str, by_file: dict[Path, list[Obj]],
            kfiles: dict) -> tuple[Obj | None, str | None, int | None]:
    """(source object, display file, line) of a built object, from its origin annotation."""
    entry_rel = b.entry.relative_to(b.root)
    if "path" in origin:
        real = _unmirror(b, entry_rel, origin["path"])
        cands = by_file.get(real, []) if real is not None else []
        same = [o for o in cands if o.kind == kind]
        pick = next((o for o in same if o.name == name), None) or next((o for o in same if o.name and o.name in name), None)
        pick = pick or (same[0] if len(same) == 1 else None)
        if pick is not None:
            return pick, pick.file, None
        if real is not None:
            return None, display_path(real), None
    if "configuredIn" in origin:
        real = _unmirror(b, entry_rel, origin["configuredIn"])
        if real is not None:
            kf = read_kfile(real, kfiles)
            # the generator's name, as built: with its content-hash suffix, or as written under disableNameSuffixHash
            # (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/generatoroptions.go)
            line = None
            for gen in ([name, name.rsplit("-", 1)[0]] if name else []):
                line = line or ((kf.line_of(gen) or _name_line(kf, gen)) if kf else None)
            return None, display_path(real), line
    return None, None, None


def _name_line(kf: KFile, name: str) -> int | None:
    for i, ln in enumerate(kf.text.splitlines(), 1):
        s = ln.strip().lstrip("- ").strip()
        if s.startswith("name:") and s[5:].strip().strip("'\"") == name:
            return i
    return None


def _unmirror(b: Build, entry_rel: Path, p: str) -> Path | None:
    """The repository file behind a path relative to the build entry (the mirror has the repository's layout)."""
    if is_remote(p):
        return None
    lexical = Path(os.path.normpath(b.root / entry_rel / p))
    rel = lexical.relative_to(b.root).as_posix() if inside(lexical, b.root) else None
    if rel is None:
        return None
    if rel in b.files:
        return b.files[rel]
    real = Path(realpath(lexical))
    return real if inside(real, b.root) else None


def _error_line(kf: KFile, message: str) -> int | None:
    """Line of the kustomization entry that the error message names, if any."""
    best = None
    for i, ln in enumerate(kf.text.splitlines(), 1):
        s = ln.strip()
        if s.startswith("- "):
            entry = s[2:].strip().strip("'\"")
            norm = entry[2:] if entry.startswith("./") else entry
            if norm and (f"/{norm}'" in message or f"/{norm}\"" in message or f"/{norm}:" in message
                         or f"'{entry}'" in message or f"'{norm}'" in message or f"/{norm} " in message
                         or message.rstrip().endswith("/" + norm)):
                best = i
                break
    return best
