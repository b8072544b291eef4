"""validate.generator: the one listing of what Flux's generated kustomization holds, for the graph and the planner."""

from __future__ import annotations

from velero_gitops.validate import generator
from velero_gitops.validate.flux import _Tree
from velero_gitops.validate.run import Options, Run


def _tree(tmp_path):
    for rel, text in {"apps/a.yaml": "kind: ConfigMap\n", "apps/notes.txt": "x\n", "apps/.sops.yaml": "creation_rules: []\n",
                      "apps/.config/b.yml": "kind: ConfigMap\n", "apps/.github/workflows/ci.yaml": "on: push\n",
                      "apps/web/Kustomization": "resources: [web.yaml]\n", "apps/web/web.yaml": "kind: Service\n",
                      "apps/web/skipped.yaml": "kind: Service\n", "apps/deep/more/c.yaml": "kind: ConfigMap\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path / "apps"


def test_listing_follows_flux_generator(tmp_path):
    """fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests: every .yaml/.yml file (hidden
    ones too), a folder with any recognised kustomization file as a whole and not entered; the source artifact
    leaves out fluxcd/pkg@sourceignore/v0.9.0 default patterns (.github/, **/.sops.yaml)."""
    apps = _tree(tmp_path)
    got = sorted((p.relative_to(apps).as_posix(), whole) for p, whole in generator.listing(apps, tmp_path))
    assert got == [(".config/b.yml", False), ("a.yaml", False), ("deep/more/c.yaml", False), ("web", True)]


def test_graph_and_planner_list_the_same(tmp_path):
    """The graph's _Tree.applied (what a Kustomization applies) and the planner list through the same function: the
    files the graph applies are the generated listing, with the whole folder's own resources."""
    apps = _tree(tmp_path)
    run = Run(Options(repo_root=str(tmp_path), kustomize="never"))
    applied = sorted(p.relative_to(apps).as_posix() for p in _Tree(tmp_path, run).applied_files(apps))
    assert applied == [".config/b.yml", "a.yaml", "deep/more/c.yaml", "web/web.yaml"]
