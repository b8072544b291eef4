"""[flux.not-applied] What no Flux Kustomization applies is a note, never an error (issue 19, class B).

A Flux Kustomization in a file that no kustomization.yaml reached from the cluster's sync lists (an app commented
out of its parent's ``resources:``) is never created, so it applies, builds, substitutes and decrypts nothing
(fluxcd/kustomize-controller@v1.9.4: a Kustomization acts only once it exists on the cluster). The graph answers
"is this object applied" (validate/flux.py ``Graph.dead``); this module turns that answer into the run's output,
the same way for every rule and every command (validate and check):

* a Flux Kustomization left out of a kustomization.yaml that Flux does apply (a disabled app) is one note,
  located on it: what it would apply is not checked. The note never says "never created": Git alone does not tell
  whether a parent applied it before this change (then Flux deletes it; `render` refuses to cause that: ops/applyset.py) (its build would run with variables and patches no controller
  gives it). A folder that nothing of the cluster reaches at all (an archive) is not the cluster's, and is silent;
* any other finding on an object that nothing applies becomes a note labelled "not applied by any Flux
  Kustomization" (rules.unapplied), unless its rule is about the repository itself (``in_git``: a secret in clear is
  read by whoever reads Git, applied or not);
* a finding of the kustomize layer sits on a kustomization file, not on an object: the same question is asked of its
  folder (``Graph.dead_dir``: no live Flux Kustomization's build reads it, by the rule ``Graph.dead`` applies to files);
  a finding on a file that yields no object (YAML that fails to parse) asks it of the file (``Graph.dead_file``);
* a file that no Flux build reads, once the builds are known completely (a cluster's sync found through its own
  folder's build: validate/kustomize.py ``_instances``);
* a tree whose own bootstrap sync no longer points at it (an old cluster moved under ``archive/``) is not applied
  (``Graph._moved_roots``), in a repository where another root applies something.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops.findings import Finding
from velero_gitops.rules import NOT_APPLIED, define, unapplied
from velero_gitops.validate.documents import KUSTOMIZE_FILES, Obj, display_path

if TYPE_CHECKING:  # types only: the engine hands the graph in
    from velero_gitops.validate.flux import Graph

RULE = define("flux.not-applied", "note", "a Flux Kustomization that no Flux Kustomization applies (its folder is left "
              "out of its parent's kustomization.yaml), so nothing it would apply is checked")


def notes(findings: list[Finding], objects: list[Obj], graph: Graph) -> list[Finding]:
    """``findings`` with those on objects no Flux Kustomization applies made notes, and a note for each Flux
    Kustomization that nothing applies."""
    from velero_gitops.validate.flux import FLUX_KS, is_kind

    dead = {(o.file, o.ident) for o in objects if graph.dead(o) or _unread(o, graph)}
    out = [unapplied(f) if (f.file, f.obj) in dead or _dead_kustomization(f, graph) else f for f in findings]
    if not dead:
        return out
    for o in objects:
        parent = _disabled(o, graph) if is_kind(o, FLUX_KS, "Kustomization") and (o.file, o.ident) in dead else None
        if parent is not None:
            ns, name = o.ident.split("/", 1)[1].split("/", 1)  # no namespace: the parent that would set it never applies it
            # the parent leaves out the file itself (a commented-out `- ./app.yaml`) or a folder holding it
            what = "its file is" if o.path is not None and graph.real(o.path).parent == parent.parent else "its folder is"
            # another declaration of the same Kustomization that Flux does apply, in the cluster whose tree left this
            # copy out (the Kustomizations that build the parent's folder): this copy is the unused one
            d = graph.real(parent.parent)
            builders = [k for k in graph.flux_ks if not graph.dead(k) and (t := graph.path_dir(k)) is not None
                        and (graph.real(t) == d or graph.real(t) in d.parents)]
            live = next((k for k in graph.flux_ks if k is not o and k.name == o.name and not graph.dead(k)
                         and (not ns or graph.ns_of(k) == ns) and any(graph.visible(b, k) for b in builders)), None)
            which = (f"this declaration of Flux Kustomization {ns + '/' if ns else ''}{name} (the one in "
                     f"{display_path(live.path) if live.path is not None else live.file} is applied)"
                     if live is not None else f"Flux Kustomization {ns + '/' if ns else ''}{name}")
            out.append(o.finding("", f"{which} is {NOT_APPLIED} ({what} left out of {display_path(parent)}), so what "
                                     "it would apply is not checked", RULE, "note"))
    return out


def _unread(o: Obj, graph: Graph) -> bool:
    """No Flux build reads the file, where the builds are known completely: a cluster's sync was found through the
    build of its own folder (validate/kustomize.py _instances, ``Run.flux_reads``), the rule ``Graph.dead`` applies
    when the sync is a file of the repository."""
    reads = graph.run.flux_reads
    if reads is None or o.path is None:
        return False
    rp = graph.real(o.path)
    return rp not in reads and not graph.applied_by.get(rp) and rp not in graph.opts.strict_files


def _dead_kustomization(f: Finding, graph: Graph) -> bool:
    """A finding located on a kustomization file (the kustomize layer: a failed or refused build, a remote or missing
    entry) whose folder Flux never builds (Graph.dead_dir), or on a file that yields no object (YAML that fails to
    parse) which Flux never applies (Graph.dead_file): the same rule as for objects."""
    if f.obj is not None or f.file.startswith("-"):
        return False
    if Path(f.file).name not in KUSTOMIZE_FILES:
        path = graph.real(Path(f.file))
        return graph.run.fs.isfile(path) and graph.dead_file(path)
    return graph.dead_dir(graph.real(Path(f.file)).parent)


def _disabled(o: Obj, graph: Graph) -> Path | None:
    """The kustomization.yaml that leaves ``o``'s folder out: the nearest above ``o``'s file that a live Flux
    Kustomization's build reads (Graph.built). A kustomization below it that lists ``o`` is itself left out (an app
    folder commented out of its parent: the parent is named, not the app's own listing, whose component files other
    builds may apply). None when nothing of the cluster reads any folder above (an archive: silent)."""
    if o.path is None:
        return None
    rp = graph.real(o.path)
    for d in rp.parents:
        if graph.root is not None and graph.root not in (d, *d.parents):
            return None
        kfile = graph.tree.kfile(d)  # the graph's memoised lookup, one stat per folder and run
        if kfile is not None and graph.built(d):
            return kfile
    return None
