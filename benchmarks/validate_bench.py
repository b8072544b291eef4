#!/usr/bin/env python3
"""Benchmark `velero-gitops validate` against kubernetes-validate and check-jsonschema, and `check` start-up.

One run does everything:

1. generates 5,000 mixed documents (Kubernetes core kinds, Flux, Velero) in a temporary directory,
   20 documents per file;
2. times `velero-gitops validate` on all of them (parsing included, default options: strict
   schemas, Flux graph, policy);
3. times `kubernetes-validate --strict` and `velero-gitops validate` on what kubernetes-validate can
   validate (the core kinds only), and prints both rates and the ratio;
4. times `check-jsonschema` and `velero-gitops validate` on single-document Deployment files (what
   check-jsonschema can validate: one schema, one document per file), with the same schema;
5. `check` start-up is measured by benchmarks/check_bench.py;
6. with ``--real-repos DIR...`` (checkouts of real Flux repositories, kept outside this repository):
   per repository the cold time (empty cache: every kustomize build runs), the warm time (same
   cache: builds replayed by content) and the ``--kustomize never`` time, with the ratios
   cold/warm and warm/never; ``--only-real`` skips steps 1-5.

Everything runs pinned to one core (`taskset -c 0` when available). Each timing is the median of
``--repeat`` runs (default 3). Goals: >= 5,000 docs/s, >= 10x kubernetes-validate.

Usage: python benchmarks/validate_bench.py [--docs 5000] [--repeat 3] [--keep DIR] [--real-repos DIR... [--only-real]]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CORE = {
    "deployment": """---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: apps
  labels:
    app.kubernetes.io/name: app-{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i}
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app:1.{i}
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            requests:
              cpu: 10m
            limits:
              memory: 128Mi
""",
    "service": """---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: apps
spec:
  selector:
    app.kubernetes.io/name: app-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
""",
    "configmap": """---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
  namespace: apps
data:
  LOG_LEVEL: info
  TZ: Etc/UTC
""",
    "namespace": """---
apiVersion: v1
kind: Namespace
metadata:
  name: ns-{i}
  labels:
    pod-security.kubernetes.io/enforce: baseline
""",
}

CRDS = {
    "kustomization": """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app-{i}
  namespace: flux-system
spec:
  interval: 1h
  path: ./kubernetes/apps/app-{i}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
  targetNamespace: apps
""",
    "helmrelease": """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app-{i}
  namespace: apps
spec:
  chartRef:
    kind: OCIRepository
    name: app-{i}
  install:
    remediation:
      retries: 3
  interval: 1h
  values:
    replicaCount: 1
""",
    "ocirepository": """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app-{p}
  namespace: apps
spec:
  interval: 15m
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
  ref:
    tag: 1.0.{i}
  url: oci://ghcr.io/example/charts/app
""",
    "schedule": """---
apiVersion: velero.io/v1
kind: Schedule
metadata:
  name: daily-{i}
  namespace: velero
spec:
  schedule: 0 2 * * *
  template:
    includedNamespaces:
      - apps
    storageLocation: default
    ttl: 720h0m0s
""",
}


def generate(root: Path, docs: int) -> dict[str, list[Path]]:
    """Mixed files (20 docs each), the core-only subset, and single-document Deployment files."""
    (root / "kubernetes" / "apps").mkdir(parents=True)
    (root / ".sops.yaml").write_text("creation_rules: []\n")
    kinds = list(CORE.items()) + list(CRDS.items())
    mixed, core = [], []
    i = 0
    for f in range(docs // 20):
        d = root / "kubernetes" / "apps" / f"group{f // 50}"
        d.mkdir(exist_ok=True)
        texts, core_only = [], True
        for k in range(20):  # odd files: all kinds (a HelmRelease is followed by its OCIRepository)
            name, tpl = kinds[k % len(kinds)] if f % 2 else list(CORE.items())[k % len(CORE)]
            core_only = core_only and name in CORE
            texts.append(tpl.format(i=i, p=i - 1))
            if name == "kustomization":
                # each Flux Kustomization applies its own app folder, as a repository grows by apps: the graph's work
                # per document stays constant (one Kustomization applying the whole tree made every object a duplicate
                # of N/40 Kustomizations, a quadratic corpus)
                app = root / "kubernetes" / "apps" / f"app-{i}"
                app.mkdir()
                (app / "configmap.yaml").write_text(CORE["configmap"].format(i=i).removeprefix("---\n"))
                mixed.append(app / "configmap.yaml")
            i += 1
        p = d / f"file{f:04d}.yaml"
        p.write_text("".join(texts))
        mixed.append(p)
        if core_only:
            core.append(p)
    single = root / "single"
    single.mkdir()
    singles = []
    for j in range(1000):
        p = single / f"deploy{j:04d}.yaml"
        p.write_text(CORE["deployment"].format(i=j).removeprefix("---\n"))
        singles.append(p)
    return {"mixed": mixed, "core": core, "single": singles}


def count_docs(files: list[Path]) -> int:
    return sum(f.read_text().count("\napiVersion:") + f.read_text().startswith("apiVersion:") for f in files)


def timed(cmd: list[str], repeat: int, cwd: Path | None = None, ok=(0,)) -> tuple[float, subprocess.CompletedProcess]:
    """Median wall time of ``repeat`` runs (a best-of would flatter us against anchors timed once)."""
    times = []
    last = None
    for _ in range(repeat):
        t = time.perf_counter()
        last = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if last.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd[:6])}... exited {last.returncode}:\n{last.stdout[-2000:]}\n{last.stderr[-2000:]}")
    return statistics.median(times), last


def real_repos(repos: list[Path], vg: list[str], tmp: Path, repeat: int) -> None:
    """Cold, warm and --kustomize never on real repositories (both cores: what a CI runner has)."""
    print(f"{'repository':44} {'cold':>7} {'warm':>7} {'never':>7} {'cold/warm':>9} {'warm/never':>10}")
    for n, repo in enumerate(repos):
        repo = repo.resolve()
        tree = "kubernetes" if (repo / "kubernetes").is_dir() else "."
        base = [*vg, "validate", tree, "--ignore-missing-schemas"]
        cold = float("inf")
        for i in range(repeat):  # each cold run gets a fresh cache: schemas and builds from nothing
            c = tmp / f"real-{n}-cold-{i}"
            t, _ = timed([*base, "--cache", str(c)], 1, cwd=repo, ok=(0, 1))
            cold = min(cold, t)
        warm_cache = tmp / f"real-{n}-warm"
        subprocess.run([*base, "--cache", str(warm_cache)], cwd=repo, capture_output=True)
        warm, _ = timed([*base, "--cache", str(warm_cache)], repeat, cwd=repo, ok=(0, 1))
        never, _ = timed([*base, "--cache", str(warm_cache), "--kustomize", "never"], repeat, cwd=repo, ok=(0, 1))
        print(f"{repo.name[:44]:44} {cold:6.2f}s {warm:6.2f}s {never:6.2f}s {cold / warm:9.2f} {warm / never:10.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the corpus here and keep it")
    ap.add_argument("--real-repos", type=Path, nargs="*", default=[], help="checkouts of real Flux repositories to time")
    ap.add_argument("--only-real", action="store_true", help="time only --real-repos")
    args = ap.parse_args()

    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    vg = [*pin, sys.executable, "-m", "velero_gitops"]
    tmp = Path(tempfile.mkdtemp(prefix="vg-bench-")) if args.keep is None else args.keep
    cache = tmp / "cache"
    try:
        if args.real_repos:
            real_repos(args.real_repos, [sys.executable, "-m", "velero_gitops"], tmp, args.repeat)
            if args.only_real:
                return 0
        sets = generate(tmp / "corpus", args.docs)
        n_mixed, n_core, n_single = count_docs(sets["mixed"]), count_docs(sets["core"]), len(sets["single"])
        print(f"corpus: {n_mixed} documents in {len(sets['mixed'])} files ({n_core} in core-only files); "
              f"{n_single} single-document Deployment files; pinned to one core: {bool(pin)}")

        # warm the compiled-schema and file caches once (not timed), like a second commit would
        subprocess.run([*vg, "validate", str(tmp / "corpus" / "kubernetes"), "--cache", str(cache)], capture_output=True)

        t_all, r = timed([*vg, "validate", str(tmp / "corpus" / "kubernetes"), "--cache", str(cache)], args.repeat, cwd=tmp / "corpus")
        print(f"velero-gitops validate, all {n_mixed} docs:        {t_all:6.2f}s  {n_mixed / t_all:8.0f} docs/s   ({r.stdout.strip().splitlines()[-1]})")

        core_files = [str(p) for p in sets["core"]]
        t_vg_core, r = timed([*vg, "validate", *core_files, "--cache", str(cache), "--no-flux"], args.repeat)
        t_kv, _ = timed([*pin, "kubernetes-validate", "--strict", "--quiet", "-k", "1.35.0", *core_files], 1)
        print(f"velero-gitops validate, {n_core} core docs:       {t_vg_core:6.2f}s  {n_core / t_vg_core:8.0f} docs/s")
        print(f"kubernetes-validate --strict, {n_core} core docs: {t_kv:6.2f}s  {n_core / t_kv:8.0f} docs/s")
        print(f"  ratio: velero-gitops is {t_kv / t_vg_core:5.1f}x faster than kubernetes-validate")

        # check-jsonschema: one schema per run; give it the same (strict) Deployment schema we use
        from velero_gitops.validate.schemas import BUNDLE_DIR, strictify

        index = json.loads((BUNDLE_DIR / "index.json").read_text())
        schema = strictify(json.loads(gzip.decompress((BUNDLE_DIR / "schemas" / (index["apps/v1/Deployment"] + ".gz")).read_bytes())))
        schema_file = tmp / "deployment.json"
        schema_file.write_text(json.dumps(schema))
        singles = [str(p) for p in sets["single"]]
        t_cj, _ = timed([*pin, "check-jsonschema", "--schemafile", str(schema_file), "--disable-formats", "*", *singles], 1)
        t_vg_single, _ = timed([*vg, "validate", *singles, "--cache", str(cache), "--no-flux"], args.repeat)
        print(f"velero-gitops validate, {n_single} single-doc files:  {t_vg_single:6.2f}s  {n_single / t_vg_single:8.0f} docs/s")
        print(f"check-jsonschema, {n_single} single-doc files:        {t_cj:6.2f}s  {n_single / t_cj:8.0f} docs/s")
        print(f"  ratio: velero-gitops is {t_cj / t_vg_single:5.1f}x faster than check-jsonschema")

        print("check start-up: see benchmarks/check_bench.py")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
