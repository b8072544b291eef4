"""What Flux lists when ``spec.path`` has no kustomization file: the generator's resources, the one listing of it.

kustomize-controller builds every Flux Kustomization; where the folder has no kustomization file, fluxcd/pkg
generates one (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests): it walks the folder,
lists each sub-folder holding a kustomization file (konfig.RecognizedKustomizationFileNames, validate.documents
.find_kfile) as a whole without descending into it, and each ``.yaml``/``.yml`` file the source artifact holds
(validate.sourceignore). The Flux graph (what a Kustomization applies) and the kustomize planner (what a build reads)
both list through :func:`listing`.
"""

from __future__ import annotations

from pathlib import Path

from velero_gitops.validate import sourceignore
from velero_gitops.validate.documents import find_kfile
from velero_gitops.validate.treeview import Disk


def listing(d: Path, root: Path | None = None, fs: Disk | None = None) -> list[tuple[Path, bool]]:
    """[(path, is a folder with its own kustomization file)] below ``d``, sorted per folder; ``root``: what the
    source artifact is relative to (for its ignore patterns), ``d`` when None; ``fs``: the view of the files
    (validate.treeview: the disk, or render's planned tree)."""
    base = root if root is not None else d
    fs = fs or Disk()
    out: list[tuple[Path, bool]] = []
    for dirpath, dirnames, filenames in fs.walk(d):  # os.walk and Planned.walk follow no folder link
        sub = Path(dirpath)
        entries = sorted([(n, True) for n in dirnames] + [(n, False) for n in filenames])
        dirnames[:] = []
        for n, is_dir in entries:
            p = sub / n
            try:
                rel = p.relative_to(base).as_posix()
            except ValueError:
                rel = p.relative_to(d).as_posix()
            if is_dir:
                if sourceignore.excluded(rel + "/x"):
                    continue
                if find_kfile(p, fs.isfile) is not None:
                    out.append((p, True))
                else:
                    dirnames.append(n)
            elif n.endswith((".yaml", ".yml")) and not sourceignore.excluded(rel):
                out.append((p, False))
        dirnames.sort()
    return out
