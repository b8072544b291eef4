"""`kubectl kustomize` on every directory holding a kustomization.yaml, and its output validated.

A failed build is a finding on the kustomization.yaml (on the line of the resource it names when
the message points at one). Problems in the built objects are reported on the source file of the
object when it can be found (same kind and name under the directory), else on the
kustomization.yaml. Builds run two at a time; a build whose directory is self-contained (no
``..`` and no URL in its kustomization) is cached on disk by the content of every file under the
directory, so unchanged trees are not built again.
"""

from __future__ import annotations

import hashlib
import re
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from velero_gitops import safefile
from velero_gitops.validate.findings import Finding

KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class _Doc:
    __slots__ = ("data", "line", "index")

    def __init__(self, data, line, index):
        self.data, self.line, self.index = data, line, index


def kubectl_path() -> str | None:
    return shutil.which("kubectl")


def _kfile(d: Path) -> Path:
    for name in KUSTOMIZE_FILES:
        if (d / name).is_file():
            return d / name
    return d / "kustomization.yaml"


def _reaches_outside(text: str) -> bool:
    """Whether a kustomization names anything outside its directory (``..`` paths, URLs). Comments do not count."""
    from velero_gitops.validate.engine import first_document

    try:
        data = first_document(text)
    except Exception:  # noqa: BLE001 - invalid: let kubectl report it, uncached
        return True
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and ("://" in v or v == ".." or "../" in v or v.startswith("/")):
            return True
    return False


def _cache_key(d: Path, kubectl: str) -> str | None:
    kfile = _kfile(d)
    try:
        text = safefile.read_text(kfile)
    except OSError:
        return None
    if _reaches_outside(text):
        return None  # may read outside the directory: always build
    h = hashlib.sha256()
    st = os.stat(kubectl)
    h.update(f"{kubectl}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames[:] = sorted(x for x in dirnames if not x.startswith(".git"))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            h.update(str(p.relative_to(d)).encode() + b"\0")
            try:
                h.update(safefile.read_bytes(p))
            except OSError:
                return None
            h.update(b"\0")
    return h.hexdigest()


def build(d: Path, kubectl: str, cache_dir: Path | None) -> tuple[bool, str]:
    """(ok, output or error message)."""
    key = _cache_key(d, kubectl) if cache_dir else None
    if key:
        for ok, suffix in ((True, ".yaml"), (False, ".err")):
            c = cache_dir / (key + suffix)
            if c.is_file():
                return ok, c.read_text()
    try:
        proc = subprocess.run([kubectl, "kustomize", str(d)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "kustomize build timed out after 300s"
    ok = proc.returncode == 0
    out = proc.stdout if ok else (proc.stderr.strip() or f"kubectl kustomize exited {proc.returncode}")
    if key:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache_dir / f"{key}.tmp{os.getpid()}"
            tmp.write_text(out)
            os.replace(tmp, cache_dir / (key + (".yaml" if ok else ".err")))
        except OSError:
            pass
    return ok, out


def _error_line(kfile: Path, message: str) -> int | None:
    """Line of the kustomization entry that the error message names, if any."""
    try:
        lines = safefile.read_text(kfile).splitlines()
    except OSError:
        return None
    best = None
    for i, ln in enumerate(lines, 1):
        s = ln.strip()
        if s.startswith("- "):
            entry = s[2:].strip().strip("'\"")
            norm = entry[2:] if entry.startswith("./") else entry
            if norm and (f"/{norm}'" in message or f"/{norm}\"" in message or f"/{norm}:" in message
                         or f"'{entry}'" in message or f"/{norm} " in message or message.rstrip().endswith("/" + norm)):
                best = i
                break
    return best


def _clean_message(msg: str) -> str:
    msg = msg.strip()
    m = re.search(r'"command failed" err="(.*)"\s*$', msg, re.S)  # klog line of newer kubectl
    if m:
        msg = m.group(1).replace('\\"', '"')
    if msg.startswith("error: "):
        msg = msg[len("error: "):]
    return " ".join(msg.split())


def check_dirs(kdirs, objects, store, opts, skip) -> tuple[list[Finding], int]:
    from velero_gitops.errors import UsageError
    from velero_gitops.validate.engine import Obj, _fast_docs, _schema_findings, display_path
    from velero_gitops.validate.schemas import SchemaError

    kubectl = kubectl_path()
    if kubectl is None:
        if opts.kustomize == "always":
            raise UsageError("kubectl is not on PATH (needed for --kustomize always)")
        return [], 0
    cache = store.cache_dir / "kustomize-builds"
    with ThreadPoolExecutor(max_workers=min(2, len(kdirs))) as pool:
        results = list(pool.map(lambda d: build(d, kubectl, cache), kdirs))

    findings: list[Finding] = []
    failed = 0
    for d, (ok, out) in zip(kdirs, results):
        kfile = _kfile(d)
        kdisplay = display_path(kfile)
        if not ok:
            findings.append(Finding(kdisplay, _error_line(kfile, out), None, "",
                                    f"kustomize build failed: {_clean_message(out)}", "kustomize"))
            failed += 1
            continue
        fast = _fast_docs(out)
        if fast is not None:
            docs = [_Doc(data, line, i) for i, (data, line, _chunk) in enumerate(fast)]
        else:
            from velero_gitops.validate.yamlload import YAMLError, load_all

            try:
                docs = load_all(out)
            except YAMLError as exc:  # pragma: no cover - kustomize emits valid YAML
                findings.append(Finding(kdisplay, None, None, "", f"kustomize output: {exc.message}", "kustomize"))
                failed += 1
                continue
        droot = d.resolve()
        sources: dict[tuple[str, str], Obj] = {}
        for o in objects:
            if o.path is not None and droot in o.path.resolve().parents:
                sources.setdefault((o.kind, o.name), o)
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict):
                continue
            data.pop("sops", None)
            kind, av = data.get("kind"), data.get("apiVersion")
            if not isinstance(kind, str) or not isinstance(av, str) or kind in skip or f"{av}/{kind}" in skip:
                continue
            md = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            src = sources.get((kind, str(md.get("name", ""))))
            if src is not None and src.data == data:
                continue  # unchanged by kustomize: validated already
            try:
                validator = store.validator(av, kind)
            except SchemaError:
                continue  # reported on the source file
            if validator is None or validator.is_valid(data):
                continue
            built = Obj(kdisplay, None, doc.index, data, doc.line)
            for f in _schema_findings(built, validator):
                if src is not None:
                    line = src.line_of(f.pointer)
                    findings.append(Finding(src.file, line, f.obj, f.pointer, f.message, f.rule, f.severity))
                else:
                    findings.append(Finding(kdisplay, None, f.obj, f.pointer,
                                            f.message + " (in the kustomize build output)", f.rule, f.severity))
    return findings, failed
