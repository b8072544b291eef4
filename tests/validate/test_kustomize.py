"""kubectl kustomize builds: output validated, failures reported on the kustomization, cache."""

from __future__ import annotations

from conftest import require_kubectl
from velero_gitops.validate.engine import Options, validate_paths


def _tree(tmp_path):
    d = tmp_path / "app"
    d.mkdir()
    (d / "kustomization.yaml").write_text(
        "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: apps\n"
        "resources:\n  - ./configmap.yaml\n  - ./deployment.yaml\n"
        "patches:\n  - target:\n      kind: Deployment\n    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/imagePolicy\n        value: Always\n")
    (d / "configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n")
    (d / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n"
        "  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx\n")
    return d


def test_build_output_is_validated_and_attributed_to_the_source(tmp_path):
    require_kubectl()
    d = _tree(tmp_path)
    opts = Options(cache_dir=str(tmp_path / "cache"), kustomize="always", flux=False)
    res = validate_paths([str(d)], opts)
    # the patch adds an unknown field: reported on the source Deployment, at the deepest existing node
    assert [(f.file.endswith("deployment.yaml"), f.line, f.pointer, f.obj) for f in res.findings] == [
        (True, 13, "/spec/template/spec/containers/0/imagePolicy", "Deployment/apps/web")]
    assert (res.passed, res.failed) == (1, 1)
    # second run: served from the build cache, same result
    cached = list((tmp_path / "cache" / "kustomize-builds").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".yaml"
    assert validate_paths([str(d)], opts).findings == res.findings


def test_build_failure_is_a_finding_on_the_resource_line(tmp_path):
    require_kubectl()
    d = _tree(tmp_path)
    k = d / "kustomization.yaml"
    k.write_text(k.read_text().replace("./configmap.yaml", "./configmapz.yaml"))
    res = validate_paths([str(d)], Options(cache_dir=str(tmp_path / "cache"), kustomize="always", flux=False))
    fails = [f for f in res.findings if f.rule == "kustomize"]
    assert len(fails) == 1
    assert fails[0].file.endswith("kustomization.yaml") and fails[0].line == 6
    assert "kustomize build failed" in fails[0].message and "configmapz.yaml" in fails[0].message
    assert res.failed >= 1


def test_never_skips_builds(tmp_path):
    d = _tree(tmp_path)
    res = validate_paths([str(d)], Options(cache_dir=str(tmp_path / "cache"), kustomize="never", flux=False))
    assert res.findings == [] and res.passed == 2


def test_cache_only_for_self_contained_kustomizations(tmp_path):
    from velero_gitops.validate.kustomize import _reaches_outside

    assert not _reaches_outside("---\n# yaml-language-server: $schema=https://json.schemastore.org/kustomization\n"
                                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./a.yaml\n")
    assert _reaches_outside("resources:\n  - ../common\n")
    assert _reaches_outside("resources:\n  - https://github.com/x/y//deploy?ref=v1\n")
    assert _reaches_outside("components:\n  - ../../components/common\n")
