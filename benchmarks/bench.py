#!/usr/bin/env python3
"""Every speed figure of the project in one run, each as a ratio to its anchor (issue 23's table).

Each figure is a *paired* measurement: the command and its anchor run alternately ``--repeat`` times and the median
of each is taken, so a change in machine load hits both sides. Times are the CPU seconds (user + sys) of the child
processes, kubectl included, which a loaded machine inflates far less than wall time; wall medians are printed too.

Figures:
  1. validate --kustomize never on a synthetic Flux + Kubernetes corpus at several sizes: µs per document, and the
     ratio to the parse floor (PyYAML's C loader reading the same files in one process); and our YAML reader alone
     on the same files against that floor (what of the ratio the reading holds, what the graph and checks hold);
  2. the same corpus's core kinds against kubernetes-validate --strict;
  3. with --real-repos DIR...: per repository, warm / never and cold / never;
  4. cold `check --no-cache` on clusters/home-lab against the import floor (a process importing typer, pydantic,
     jinja2 and ruamel.yaml: what the CLI must import), against `import typer`, and against the modules the cold
     check loads imported alone (the floor under its goal: what its imports cost before any work);
  5. `check` replaying a stored clean result, against the import floor;
  6. `render` of 100 cluster configs: fresh, no-op and --check, each computed (the replay store off) and replayed,
     and a no-op after a comment edit in one config (the store on), also as a ratio to its goal;
  7. the YAML budgets: a file of 8 MB of bare `---` and one of a million list items, through validate.

Our sources are byte-compiled first, as after `pip install`: a run that compiles them measures the compiler.

Usage: python benchmarks/bench.py [--repeat 5] [--sizes 1000,5000,20000,100000] [--corpus-dir DIR] [--real-repos DIR...]
       [--skip-corpus]
       [--only corpus|render|check|budgets]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_bench import count_docs, generate  # noqa: E402  (the corpus generator lives once)

VG = [sys.executable, "-m", "velero_gitops"]
IMPORT_FLOOR = [sys.executable, "-c", "import typer, pydantic, jinja2, ruamel.yaml"]
IMPORT_TYPER = [sys.executable, "-c", "import typer"]
# `import pydantic` is lazy: its machinery loads with the first model. A CLI that validates a config pays that too.
PYDANTIC_FLOOR = [sys.executable, "-c", "import typer, pydantic, jinja2, ruamel.yaml\n"
                  "class A(pydantic.BaseModel):\n    x: int = 0\nA(x=1)"]
# The modules a run loaded, written one a line to argv[1] when it exits (run as `python -c MODULES_OF file -m ...`).
MODULES_OF = ("import atexit, runpy, sys\nout = sys.argv.pop(1)\n"
              "atexit.register(lambda: open(out, 'w').write('\\n'.join(m for m in sys.modules if m.rpartition('.')[2] != '__main__')))\n"
              "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")
# Importing those modules and nothing else: what a run costs before its first line of work.
IMPORT_ALL = "import importlib, sys\nfor m in open(sys.argv[1]).read().split():\n    importlib.import_module(m)"


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, ok=(0,)) -> tuple[float, float]:
    """(CPU seconds of the child and its children, wall seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(map(str, cmd[:6]))}... exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def paired(a: Callable[[], tuple[float, float]], b: Callable[[], tuple[float, float]], repeat: int):
    """Medians (cpu, wall) of a and of b, run alternately."""
    ra, rb = [], []
    for _ in range(repeat):
        ra.append(a())
        rb.append(b())
    med = lambda rs, i: statistics.median(r[i] for r in rs)  # noqa: E731
    return (med(ra, 0), med(ra, 1)), (med(rb, 0), med(rb, 1))


def row(name: str, a, b, anchor: str, goal: str = "") -> None:
    ratio = a[0] / b[0] if b[0] else float("inf")
    print(f"  {name:46} cpu {a[0]:7.3f}s  wall {a[1]:7.3f}s | {anchor:28} cpu {b[0]:7.3f}s | ratio {ratio:6.2f}  {goal}")


def parse_floor(files: list[Path]) -> Callable[[], tuple[float, float]]:
    code = ("import sys, yaml\nL = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n"
            "for p in sys.argv[1:]:\n    list(yaml.load_all(open(p, 'rb'), Loader=L))\n")
    return lambda: run([sys.executable, "-c", code, *map(str, files)])


def our_reading(files: list[Path]) -> Callable[[], tuple[float, float]]:
    """Our YAML reader alone (yamlsafe: Go YAML's scalars, lines, budgets) on the same files, in one process: the part
    of validate that the parse floor compares like for like; the rest of the run is the Flux graph and the checks."""
    code = ("import sys\nfrom velero_gitops import yamlsafe\n"
            "for p in sys.argv[1:]:\n    yamlsafe.load_all(open(p, encoding='utf-8').read())\n")
    return lambda: run([sys.executable, "-c", code, *map(str, files)])


def corpus(tmp: Path, sizes: list[int], repeat: int, keep: Path | None = None) -> None:
    print("1. validate --kustomize never, synthetic corpus (per document, against the C parser reading the same files)")
    rows: list[tuple[int, float, float]] = []  # (documents, our CPU, the floor's CPU)
    for n in sizes:
        root = (keep or tmp) / f"corpus-{n}"
        listing = root / "sets.json"
        if not listing.exists():  # a kept corpus (--corpus-dir) is generated once and reused by later runs
            shutil.rmtree(root, ignore_errors=True)
            made = generate(root, n)
            listing.write_text(json.dumps({k: [str(p.relative_to(root)) for p in v] for k, v in made.items()}))
        sets = {k: [root / p for p in v] for k, v in json.loads(listing.read_text()).items()}
        docs = count_docs(sets["mixed"])
        cache = tmp / f"cache-{n}"
        cmd = [*VG, "validate", str(root / "kubernetes"), "--kustomize", "never", "--cache", str(cache)]
        run(cmd, ok=(0, 1))  # compiled schemas cached, like any second run
        ours, floor = paired(partial(run, cmd, ok=(0, 1)), parse_floor(sets["mixed"]), repeat)
        rows.append((docs, ours[0], floor[0]))
        print(f"  {docs:7d} docs: {ours[0] / docs * 1e6:7.1f} µs/doc ({docs / ours[0]:7.0f} docs/s/core) | parse floor "
              f"{floor[0] / docs * 1e6:7.1f} µs/doc | floor/ours {floor[0] / ours[0]:5.2f} (goal >= 0.80, flat across sizes)")
        reading, floor2 = paired(our_reading(sets["mixed"]), parse_floor(sets["mixed"]), repeat)
        print(f"  {'':7} of which our YAML reading alone: {reading[0] / docs * 1e6:7.1f} µs/doc | floor/reading "
              f"{floor2[0] / reading[0]:5.2f} (the reader is not what holds the ratio when this is >= 1)")
        if n == sizes[min(1, len(sizes) - 1)] and shutil.which("kubernetes-validate"):
            core = [str(p) for p in sets["core"]]
            n_core = count_docs(sets["core"])
            ours, kv = paired(partial(run, [*VG, "validate", *core, "--no-flux", "--cache", str(cache)]),
                              partial(run, ["kubernetes-validate", "--strict", "--quiet", "-k", "1.35.0", *core]), repeat)
            print(f"2. {n_core} core documents: kubernetes-validate / velero-gitops = {kv[0] / ours[0]:5.1f}x (goal >= 50x)")
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    # linear means a constant cost per added document: the slope between two sizes, start-up excluded
    for (d0, o0, f0), (d1, o1, f1) in zip(rows, rows[1:]):
        print(f"  {d0:7d} -> {d1:7d} docs: each added document {(o1 - o0) / (d1 - d0) * 1e6:7.1f} µs (parse floor "
              f"{(f1 - f0) / (d1 - d0) * 1e6:6.1f} µs, floor/ours {(f1 - f0) / (o1 - o0) if o1 > o0 else float('inf'):5.2f})")


def real_repos(tmp: Path, repos: list[Path], repeat: int) -> None:
    print("3. real repositories: warm, warm after an unrelated edit, and cold validate against --kustomize never\n"
          "   (goals: warm and edited <= 1.3x, cold <= 4x; the checkouts are copied, never written)")
    for i, src in enumerate(repos):
        repo = tmp / f"repo-{i}"
        shutil.copytree(src.resolve(), repo, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        (repo / ".git").mkdir()  # the copy is its own repository (validate's boundary), as the checkout was
        tree = "kubernetes" if (repo / "kubernetes").is_dir() else "."
        warm_cache = tmp / f"real-{i}"
        base = [*VG, "validate", tree, "--ignore-missing-schemas", "--cache", str(warm_cache)]
        run(base, cwd=repo, ok=(0, 1))
        never = partial(run, [*base, "--kustomize", "never"], cwd=repo, ok=(0, 1))
        warm, nev = paired(partial(run, base, cwd=repo, ok=(0, 1)), never, repeat)
        edited, nev3 = paired(partial(_edited_run, base, repo / tree), never, repeat)
        cold_cache = tmp / f"real-{i}-cold"
        cold_cmd = [*VG, "validate", tree, "--ignore-missing-schemas", "--cache", str(cold_cache)]
        cld, nev2 = paired(partial(_fresh_cache_run, cold_cmd, cold_cache, repo), never, repeat)
        print(f"  {src.name[:40]:40} warm/never {warm[0] / nev[0]:5.2f}  edited/never {edited[0] / nev3[0]:5.2f}  "
              f"cold/never {cld[0] / nev2[0]:5.2f}  (never: cpu {nev[0]:.2f}s, cold wall {cld[1]:.1f}s)")
        shutil.rmtree(repo, ignore_errors=True)


def _edited_run(cmd: list[str], tree: Path) -> tuple[float, float]:
    """A warm run after an edit no build reads (a ConfigMap in a folder of its own changes): what a commit that
    touches one app costs for every other app's build."""
    f = tree / "vg-bench-unrelated" / "configmap.yaml"
    f.parent.mkdir(exist_ok=True)
    n = int(f.read_text().rsplit("'", 2)[-2]) + 1 if f.exists() else 0
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\n  namespace: default\ndata:\n  n: '{n}'\n")
    return run(cmd, cwd=tree.parent if tree.name == "kubernetes" else tree, ok=(0, 1))


def _fresh_cache_run(cmd: list[str], cache: Path, cwd: Path) -> tuple[float, float]:
    shutil.rmtree(cache, ignore_errors=True)  # every build and schema from nothing
    return run(cmd, cwd=cwd, ok=(0, 1))


def check_startup(tmp: Path, repeat: int) -> None:
    print("4-5. check on clusters/home-lab against the import floor (typer, pydantic, jinja2, ruamel)")
    repo = tmp / "home-lab"
    shutil.copytree(ROOT / "clusters" / "home-lab", repo)
    xdg = tmp / "xdg"
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    env.pop("VELERO_GITOPS_NO_CACHE", None)
    check = [*VG, "check", "--config", "velero-gitops.yaml"]

    def cold() -> tuple[float, float]:
        shutil.rmtree(xdg, ignore_errors=True)
        return run([*check, "--no-cache"], cwd=repo, env=env)

    floor = lambda: run(IMPORT_FLOOR, cwd=repo, env=env)  # noqa: E731
    a, b = paired(cold, floor, repeat)
    row("cold check --no-cache", a, b, "import floor", "(goal <= 2.5)")
    _, typer_only = paired(floor, lambda: run(IMPORT_TYPER, cwd=repo, env=env), repeat)
    row("cold check --no-cache", a, typer_only, "import typer")
    _, first_model = paired(floor, lambda: run(PYDANTIC_FLOOR, cwd=repo, env=env), repeat)
    row("cold check --no-cache", a, first_model, "import floor + 1st model")
    # the floor under the goal: the modules a cold check loads, imported alone (pydantic's first model, our config
    # models, every module the run reaches), so a ratio here that stays high says the imports hold it, not the work
    modules = tmp / "check-modules.txt"
    shutil.rmtree(xdg, ignore_errors=True)
    run([sys.executable, "-c", MODULES_OF, str(modules), "velero_gitops", *check[3:], "--no-cache"], cwd=repo, env=env)
    own = lambda: run([sys.executable, "-c", IMPORT_ALL, str(modules)], cwd=repo, env=env)  # noqa: E731
    a2, imports = paired(cold, own, repeat)
    row("cold check --no-cache", a2, imports, "its imports alone")
    _, b2 = paired(own, floor, repeat)
    row("its imports alone", imports, b2, "import floor")
    run(check, cwd=repo, env=env)  # stores the clean result
    a, b = paired(lambda: run(check, cwd=repo, env=env), floor, repeat)
    row("check, replayed clean result", a, b, "import floor", "(goal <= 1.1)")


def render_100(tmp: Path, repeat: int) -> None:
    print("6. render 100 cluster configs (goals: fresh <= 2 s, no-op <= 0.5 s CPU)")
    repo = tmp / "r100"
    src = (ROOT / "clusters" / "home-lab" / "velero-gitops.yaml").read_text()
    configs = []
    for i in range(100):
        d = repo / "clusters" / f"c{i:03d}"
        d.mkdir(parents=True)
        (d / "velero-gitops.yaml").write_text(src.replace("cluster: home-lab", f"cluster: c{i:03d}"))
        configs.append(str(d / "velero-gitops.yaml"))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "xdg-render")}
    env.pop("VELERO_GITOPS_NO_CACHE", None)
    computed = {**env, "VELERO_GITOPS_NO_CACHE": "1"}
    cmd = [*VG, "render", "-q", *configs]
    floor = lambda: run(IMPORT_FLOOR, cwd=repo)  # noqa: E731

    def fresh() -> tuple[float, float]:
        for d in (repo / "clusters").iterdir():
            shutil.rmtree(d / "kubernetes", ignore_errors=True)
        return run(cmd, cwd=repo, env=computed)

    def one_edited() -> tuple[float, float]:
        """A comment added to (or removed from) one config of the hundred, the replay store on: what a commit that
        touches one cluster costs the next render (the store's key covers every config read)."""
        f = Path(configs[0])
        text = f.read_text()
        f.write_text(text[:-len("# edited\n")] if text.endswith("# edited\n") else text + "# edited\n")
        return run(cmd, cwd=repo, env=env)

    run(cmd, cwd=repo, env=env)  # written
    run(cmd, cwd=repo, env=env)  # a no-op: stored for the replay
    check = [*VG, "render", "--check", *configs]
    run(check, cwd=repo, env=env)  # a clean --check: stored for the replay
    for name, fn in (("fresh", fresh), ("no-op, computed", lambda: run(cmd, cwd=repo, env=computed)),
                     ("no-op, replayed", lambda: run(cmd, cwd=repo, env=env)),
                     ("no-op, one config edited", one_edited),
                     ("--check, computed", lambda: run(check, cwd=repo, env=computed)),
                     ("--check, replayed", lambda: run(check, cwd=repo, env=env))):
        a, b = paired(fn, floor, repeat)
        goal = 2.0 if name == "fresh" else 0.5
        row(f"render x100 {name}", a, b, "import floor", f"(goal: cpu <= {goal} s: {a[0] / goal:4.2f}x the goal)")


def yaml_budgets(tmp: Path, repeat: int) -> None:
    print("7. YAML budgets through validate (a located limit finding; CPU bounded)")
    d = tmp / "budgets"
    d.mkdir()
    (d / "documents.yaml").write_text("---\n" * 2_000_000)
    (d / "nodes.yaml").write_text("- a\n" * 2_000_000)
    floor = lambda: run(IMPORT_FLOOR, cwd=d)  # noqa: E731
    for name in ("documents.yaml", "nodes.yaml"):
        a, b = paired(lambda n=name: run([*VG, "validate", n, "--kustomize", "never"], cwd=d, ok=(1,)), floor, repeat)
        row(f"validate 8 MB {name}", a, b, "import floor")


def compile_sources() -> None:
    """What pip install leaves: our modules byte-compiled, so no run pays for the compiler."""
    import compileall

    compileall.compile_dir(str(ROOT / "src"), quiet=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="1000,5000,20000,100000")
    ap.add_argument("--real-repos", type=Path, nargs="*", default=[])
    ap.add_argument("--corpus-dir", type=Path, default=None, help="generate each corpus here once and reuse it (kept)")
    ap.add_argument("--skip-corpus", action="store_true", help="skip figures 1-2 (the 100k-document corpus takes minutes)")
    ap.add_argument("--only", choices=("corpus", "render", "check", "budgets"), help="run only this figure (1-2, 6, 4-5 or 7)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vg-bench-"))
    compile_sources()
    try:
        print(f"paired medians of {args.repeat} runs; CPU seconds of the children (user + sys)")
        figures = {"check": check_startup, "render": render_100, "budgets": yaml_budgets}
        if args.only == "corpus":
            corpus(tmp, [int(s) for s in args.sizes.split(",")], args.repeat, args.corpus_dir)
            return 0
        if args.only:
            figures[args.only](tmp, args.repeat)
            return 0
        if not args.skip_corpus:
            corpus(tmp, [int(s) for s in args.sizes.split(",")], args.repeat, args.corpus_dir)
        if args.real_repos:
            real_repos(tmp, args.real_repos, args.repeat)
        for figure in figures.values():
            figure(tmp, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
