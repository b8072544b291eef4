"""`velero-gitops check`: what a commit must pass. Writes nothing (except the replay store of clean runs).

For each config: the rendered tree is in sync with it (render drift), the repository validates, and the
credentials Secret is encrypted for the right recipients. Scope of the validation:

* the whole repository is read, so that Flux-graph facts come from where they live (a root
  Kustomization patch that injects decryption, the Kustomization a dependsOn names, the parent
  ``namespace:`` a Kustomization ends up in);
* strict on what the tool renders: default schemas, no missing schema, no skipped kind, no ignored file;
* kubeconform-like on the rest: the config's ``check:`` section and the command-line options
  (``ignoreMissingSchemas``, ``schemaLocations``, ``ignoreFilenamePatterns``, ``skip``, ``externals``);
* the config's opt-ins are the policy: ``s3.allowHttp`` and ``s3.insecureSkipTLSVerify`` allow what they
  say in the files that config renders (nowhere else), the budget is the config's node-agent budget.

Library API::

    from velero_gitops.check import CheckOptions, run_check
    result = run_check([Path("clusters/home-lab/velero-gitops.yaml")], CheckOptions())
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops import safefile
from velero_gitops.boundary import realpath
from velero_gitops.findings import Finding
from velero_gitops.rules import RULES, define

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.pipeline import RenderResult
    from velero_gitops.runcache import Recorder

# Every config named like the tool's own is a config, not a Kubernetes object.
CONFIG_PATTERN = r"(^|/)velero-gitops\.ya?ml$"

UNWIRED = define("flux.unwired", "error", "no Flux Kustomization reached from the cluster's sync root applies the rendered "
                 "`ks.yaml` (`render --wire` adds the entry)", needs_config=True)
SECOND_INSTALL = define("velero.second-install", "error", "a velero HelmRelease that velero-gitops did not render is "
                        "applied beside the rendered one (`velero-gitops import` is the way in)", needs_config=True)


@dataclass
class CheckOptions:
    """Command-line additions to every config's ``check:`` section (the same options as `validate`)."""

    schema_locations: list[str] = field(default_factory=list)
    ignore_missing_schemas: bool = False
    ignore_filename_patterns: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    externals: list[str] = field(default_factory=list)
    kubernetes_version: str = ""
    kustomize: str = "auto"
    cache_dir: str | None = None  # schema cache

    def words(self) -> list[str]:
        """The options as text, for the replay store's request key."""
        return [f"{k}={v!r}" for k, v in sorted(asdict(self).items())]


@dataclass
class CheckResult:
    findings: list[Finding]
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    suppressed: int = 0  # findings the configs' check: sections (ignoreFilenamePatterns, skip...) took out

    @property
    def clean(self) -> bool:
        return self.failed == 0 and not any(f.severity == "error" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"findings": [asdict(f) for f in self.findings], "passed": self.passed, "failed": self.failed,
                "skipped": self.skipped, "suppressed": self.suppressed}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> CheckResult | None:
        """A stored result, only when well formed and clean (a stored failure is never replayed)."""
        try:
            counts = [data[k] for k in ("passed", "failed", "skipped", "suppressed")]
            if not all(type(c) is int and c >= 0 for c in counts):
                return None
            findings = [Finding(**f) for f in data["findings"]]
            for f in findings:
                if not (isinstance(f.file, str) and isinstance(f.message, str) and isinstance(f.rule, str)
                        and f.severity in ("warning", "note")):
                    return None
        except (KeyError, TypeError):
            return None
        result = cls(findings, *counts)
        return result if result.clean else None


@dataclass
class _Unit:
    """One config, loaded once and rendered once; the steps below read these."""

    loaded: LoadedConfig
    rendered: RenderResult

    @functools.cached_property
    def files(self) -> set[Path]:
        return {_real(self.loaded.repo_root / rel) for rel in self.rendered.files}

    @property
    def opted_in(self) -> set[str]:
        """Policy rules that this config's opt-ins turn off for the files it renders."""
        from velero_gitops.validate import policy  # noqa: F401 - declares the rules a config opts out of

        values = self.loaded.config.model_dump(by_alias=True)
        return {r for r in RULES.values() if r.opt_out and _dig(values, r.opt_out.split(".")) is True}


def _dig(values: object, keys: list[str]) -> object:
    for k in keys:
        values = values.get(k) if isinstance(values, dict) else None
    return values


def run_check(configs: list[Path], options: CheckOptions | None = None, recorder: Recorder | None = None) -> CheckResult:
    """Check every config. Raises ConfigError/UsageError for unusable configs or options."""
    from velero_gitops.config.loader import display, load
    from velero_gitops.pipeline import render_check, render_config

    opts = options or CheckOptions()
    result = CheckResult([])
    units = []
    for cfg in configs:
        loaded = load(cfg)
        rendered = render_config(loaded)
        units.append(_Unit(loaded, rendered))
        # config/semantics.py warnings: shown by the hook too, never failing it
        result.findings.extend(Finding(display(loaded.path), w.line, None, "", w.body,
                                       f"config.{w.rule}", "warning") for w in loaded.warnings)
        drift = render_check(rendered)
        result.findings.extend(drift)
        result.failed += len({f.file for f in drift if f.severity == "error"})

    by_root: dict[Path, list[_Unit]] = {}
    for u in units:
        by_root.setdefault(u.loaded.repo_root, []).append(u)
    for root, group in by_root.items():
        # one read of the repository's Flux graph per set of sources, for every reader; validate's own serves them
        # when it read the same sources
        graphs = _Graphs(root, *_validate_repository(root, group, opts, result))
        _wiring(group, result, graphs)
        _storage_and_metrics(group, result, graphs)

    from velero_gitops.secrets import secret_check

    # a Secret the kustomize build reports (a resource in another format) is reported once, by the build
    reported = {(f.file, f.obj, f.rule) for f in result.findings}
    for u in units:
        secret = secret_check.check_tree(u.loaded.repo_root, u.loaded.config, config_file=u.loaded.display_path)
        secret = [f for f in secret if (f.file, f.obj, f.rule) not in reported]
        reported |= {(f.file, f.obj, f.rule) for f in secret}  # two configs of one repository scan it once
        result.findings.extend(secret)
        result.failed += len({f.file for f in secret if f.severity == "error"})
    if recorder is not None and result.clean:  # only a clean result is stored: key it on what was read
        for u in units:
            _record_probes(recorder, u)
    return result


def _validate_repository(root: Path, group: list[_Unit], opts: CheckOptions,
                         result: CheckResult) -> tuple[tuple[str, ...], Any]:
    """Validate the repository; returns (the sources it was read with, its Flux graph or None)."""
    from velero_gitops.validate.engine import Options, ignore_matcher, validate_paths

    strict = frozenset().union(*(u.files for u in group))
    checks = [u.loaded.config.check for u in group]
    patterns = [CONFIG_PATTERN, *(re.escape(_relative(u.loaded.path, root)) + "$" for u in group)]
    patterns += [p for c in checks for p in c.ignore_filename_patterns] + opts.ignore_filename_patterns
    vopts = Options(
        schema_locations=["default", *(loc for u in group for loc in _schema_locations(u, root)), *opts.schema_locations],
        cache_dir=opts.cache_dir,
        kubernetes_version=opts.kubernetes_version,
        strict=True,
        ignore_missing_schemas=opts.ignore_missing_schemas or any(c.ignore_missing_schemas for c in checks),
        skip_kinds=[k for c in checks for k in c.skip] + opts.skip,
        ignore_filename_patterns=patterns,
        strict_files=strict,
        repo_root=str(root),
        externals=_externals(root, group, strict, ignore_matcher(patterns)) + [e for c in checks for e in c.externals] + opts.externals,
        repo_sources=sorted({f"{s.kind}/{s.namespace}/{s.name}" for s in (u.loaded.config.flux.source_ref for u in group)}),
        kustomize=opts.kustomize,
        plaintext_secrets=False,  # secret_check owns the Secret rules in `check`: no double reports
        **budget_options(node_agent_budget([u.loaded for u in group])),
    )
    found = validate_paths([str(root)], vopts)
    if any(c.ignore_filename_patterns or c.skip or c.ignore_missing_schemas for c in checks):
        _unsuppressed(root, vopts, opts, patterns[:len(group) + 1], found, result)
    findings = _drop_opted_in(found.findings, group)
    # an object whose only errors were opted in passes after all
    flipped = _failed_objects(found.findings) - _failed_objects(findings)
    result.findings.extend(findings)
    result.passed += found.passed + len(flipped)
    result.failed += found.failed - len(flipped)
    result.skipped += found.skipped
    return tuple(vopts.repo_sources), found.graph


def _unsuppressed(root: Path, vopts: Any, opts: CheckOptions, own: list[str], found: Any, result: CheckResult) -> None:
    """The config's ``check:`` section is part of the input being judged (a pull request may edit it): it may quiet
    the kubeconform-like rules, but not a rule about what Git holds (``in_git``: a secret in clear is read by anyone
    who reads the repository). One more run without the section's suppressions (the command line's stay: they are
    the maintainer's) gives those findings back, and counts what the section took out."""
    import dataclasses

    from velero_gitops.validate.engine import validate_paths

    plain = validate_paths([str(root)], dataclasses.replace(
        vopts, ignore_filename_patterns=own + opts.ignore_filename_patterns, skip_kinds=list(opts.skip),
        ignore_missing_schemas=opts.ignore_missing_schemas))
    kept = {_key(f) for f in found.findings}
    taken = [f for f in plain.findings if _key(f) not in kept]
    back = [f for f in taken if getattr(RULES.get(f.rule), "in_git", False)]
    found.findings.extend(back)
    found.failed += len({(f.file, f.obj) for f in back if f.severity == "error"})
    result.suppressed += len(taken) - len(back)


def _key(f: Finding) -> tuple[str, int | None, str | None, str, str, str]:
    return f.file, f.line, f.obj, f.pointer, f.message, f.rule


class _Graphs:
    """validate/flux.py's Graph of one repository (ops/wiring.graph), read once per set of sources and shared by
    every reader of one check: the wiring facts, storage ordering and the metrics wiring."""

    def __init__(self, root: Path, sources: tuple[str, ...] = (), built: Any = None) -> None:
        self.root = root
        self._graphs: dict[tuple[str, ...], Any] = {}
        self._facts: dict[tuple[str, ...], list] = {}
        if built is not None:  # validate's graph, read with these sources (sorted)
            self._graphs[tuple(sorted(sources))] = built

    def graph(self, sources: tuple[str, ...]) -> Any:
        from velero_gitops.ops import wiring

        key = tuple(sorted(sources))
        if key not in self._graphs:
            self._graphs[key] = wiring.graph(self.root, list(sources))
        return self._graphs[key]

    def facts(self, sources: tuple[str, ...]) -> list:
        from velero_gitops.ops import wiring

        if sources not in self._facts:
            self._facts[sources] = wiring.flux_facts(self.root, list(sources), g=self.graph(sources))
        return self._facts[sources]


def _wiring(group: list[_Unit], result: CheckResult, graphs: _Graphs) -> None:
    """[flux.unwired] the rendered tree is applied by no Flux Kustomization reached from the cluster's sync root;
    [velero.second-install] a velero HelmRelease that velero-gitops did not render is applied too;
    [flux.depends-on-replaced] a parent's patch rewrites the rendered Kustomizations' dependsOn (ops/ordering.py)."""
    from velero_gitops.ops import importer, ordering, wiring
    from velero_gitops.render.layout import Layout

    ours = set().union(*(u.files for u in group))
    for u in group:
        facts = graphs.facts(tuple(wiring.sources_of(u.loaded)))
        shown = wiring.at(u.loaded.repo_root, u.rendered.shown)
        within = (u.loaded.repo_root / u.loaded.config.repo.apps_root).resolve()
        for e in importer.second_install(importer.find_existing(u.loaded.repo_root, facts, skip=ours, within=within)):
            result.findings.append(Finding(file=shown(e.file), line=e.line, obj=f"HelmRelease/{e.namespace}/{e.name}",
                                           pointer="", message=importer.refusal([e], shown),
                                           rule=SECOND_INSTALL))
            result.failed += 1
        if u.rendered.drifted:
            continue  # not rendered yet (render.drift says so): the folder Flux would reach is not there to judge
        w = wiring.for_config(u.loaded, facts)
        if w.wired:
            ks_text = u.rendered.files.get(Layout.of(u.loaded.config).ks_file, "")
            for r in ordering.replaced(w.target, ks_text, facts):
                result.findings.append(Finding(file=shown(r.file), line=r.line, obj=f"Kustomization/{r.ks}",
                                               pointer="/spec/patches", message=ordering.message(r, shown),
                                               rule=ordering.REPLACED))
                result.failed += 1
        if not w.checked or w.wired:
            continue
        msg = wiring.message(w, u.loaded.repo_root, u.rendered.shown, subject=False)
        result.findings.append(Finding(file=wiring.at(u.loaded.repo_root, u.rendered.shown)(w.target), line=None,
                                       obj=None, pointer="", message=" ".join(msg.split()), rule=UNWIRED))
        result.failed += 1


def _storage_and_metrics(group: list[_Unit], result: CheckResult, graphs: _Graphs) -> None:
    """[flux.storage-not-ordered] the StorageClasses the schedules' namespaces use are installed before the restore
    (ops/storage.py), judged on the dependsOn the controller applies (a parent's patch may replace ours:
    ops/ordering.py); [metrics.not-selected] the repository's Prometheus loads the rendered rules and scrapes the
    monitors (ops/prometheus.py). One Flux graph per set of sources serves both."""
    from velero_gitops.config.loader import display
    from velero_gitops.ops import namespaces, ordering, prometheus, storage, wiring
    from velero_gitops.render.layout import Layout

    for u in group:
        c = u.loaded.config
        sources = tuple(wiring.sources_of(u.loaded))
        view = wiring.config_view(u.loaded, graphs.graph(sources))  # this config's cluster only
        if c.schedules:
            st = storage.read_for(u.loaded, graphs.graph(sources))
            deps = [f"{d.namespace}/{d.name}" for d in c.flux.depends_on]
            facts = graphs.facts(sources)
            ks_file = (u.loaded.repo_root / Layout.of(c).ks_file).resolve()
            applied = ordering.applied_depends_on(ks_file, f"{c.flux.namespace}/{c.repo.app}", facts)
            patch = ordering.depends_on_patch(ks_file, f"{c.flux.namespace}/{c.repo.app}", facts)
            deps = deps if applied is None else applied
            where = f"{wiring.at(u.loaded.repo_root, u.rendered.shown)(patch[0])}:{patch[1]}" if patch else ""
            for nu in namespaces.unused(u.loaded, graphs.graph(sources)):
                result.findings.append(Finding(
                    display(u.loaded.path), u.loaded.line("schedules", nu.schedule, "namespaces", nu.index), None,
                    f"/schedules/{nu.schedule}/namespaces/{nu.index}", namespaces.message(nu), namespaces.UNUSED,
                    "warning"))
            for c_, msg in storage.hostpath_warnings(u.loaded, st):
                result.findings.append(Finding(display(u.loaded.path), None, f"StorageClass//{c_}", "", msg,
                                               storage.HOSTPATH, "warning"))
            # what applies the tree, or, before it is wired, what will (render --wire edits the apps root's build),
            # and their appliers: none of them is advice for flux.dependsOn (flux.depends-on-ancestor)
            above = (ordering.ancestors(facts, ks_file=ks_file)
                     or ordering.ancestors(facts, folder=(u.loaded.repo_root / c.repo.apps_root).resolve()))
            for gap in storage.gaps(st, storage.backed_up_namespaces(u.loaded), deps, above):
                result.findings.append(Finding(display(u.loaded.path), None, f"StorageClass//{gap.storage_class}", "",
                                               storage.message(gap, where), storage.UNORDERED, "warning"))
        if prometheus.rendered(c):
            v = prometheus.judge(prometheus.read(u.loaded.repo_root, list(sources), graphs.graph(sources), view), c)
            if v is not None:
                result.findings.append(Finding(display(u.loaded.path), None, None, "", prometheus.message(v, c),
                                               prometheus.UNSELECTED, "warning"))


def _drop_opted_in(findings: list[Finding], group: list[_Unit]) -> list[Finding]:
    """A config's opt-in covers the files it renders, not the rest of the repository nor another config's tree."""
    drop = {(rule, str(p)) for u in group for rule in u.opted_in for p in u.files}
    if not drop:
        return findings
    return [f for f in findings if (f.rule, str(_real(Path(f.file)))) not in drop]


def _failed_objects(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.file, f.obj) for f in findings if f.severity == "error" and f.obj}


def _real(p: Path) -> Path:
    """``p`` after symlinks; a symlink loop resolves as far as it goes (Path.resolve raises there)."""
    return Path(realpath(os.path.abspath(p)))


def _relative(path: Path, root: Path) -> str:
    try:
        return _real(path).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def node_agent_budget(configs: list[LoadedConfig]) -> dict[str, tuple[str, str]]:
    """"cpu"/"memory" -> (the largest velero.nodeAgent.budget of ``configs``, the config that sets it): the budget
    validate holds every velero HelmRelease of their repository to, in `check` and in plain `validate`. The largest,
    as each config's rendered values are already within its own. Empty without configs."""
    from velero_gitops.config.units import parse_quantity

    out: dict[str, tuple[str, str]] = {}
    for res in ("cpu", "memory"):
        values = [(str(getattr(c.config.velero.node_agent.budget, res)), c.display_path) for c in configs]
        if values:
            out[res] = max(values, key=lambda v: parse_quantity(v[0]) or Decimal(0))
    return out


def budget_options(budget: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """validate.run.Options fields for ``budget`` (node_agent_budget); what it leaves out keeps its default."""
    out: dict[str, Any] = {f"node_agent_{r}_limit": v for r, (v, _) in budget.items()}
    out["node_agent_budget_from"] = {r: shown for r, (_, shown) in budget.items()}
    return out


def configs_for(paths: list[str], repo_root: str | None) -> list[LoadedConfig]:
    """The velero-gitops configs of the repository `validate` reads at ``paths`` (found as `check` finds them when
    none is named, at that repository's root: config.loader.default_configs) whose apps root overlaps a path read:
    the configs of the cluster being validated. A config that does not load is check's to report, not used here."""
    from velero_gitops.config.loader import default_configs, load
    from velero_gitops.errors import ConfigError
    from velero_gitops.validate.documents import find_root

    read = [Path(os.path.realpath(p)) for p in paths if p != "-"]
    roots = {Path(os.path.realpath(repo_root))} if repo_root else \
        {r for p in read if (r := find_root(p if p.is_dir() else p.parent)) is not None}
    out: list[LoadedConfig] = []
    for root in sorted(roots):
        for path in default_configs(root):
            try:
                loaded = load(path)
            except ConfigError:
                continue
            apps = Path(os.path.realpath(loaded.repo_root / loaded.config.repo.apps_root))
            if Path(os.path.realpath(loaded.repo_root)) == Path(os.path.realpath(root)) and any(
                    p == apps or p in apps.parents or apps in p.parents for p in read):
                out.append(loaded)
    return out


def _schema_locations(u: _Unit, root: Path) -> list[str]:
    """The config's schema folders and templates, relative to its folder; never outside the repository."""
    from velero_gitops.config.loader import schema_location_path
    from velero_gitops.errors import ConfigError

    out = []
    for loc in u.loaded.config.check.schema_locations:
        if loc == "default":
            continue
        path = schema_location_path(u.loaded.path.parent, loc, root)
        if path is None:  # the loader refuses it already, located; another repository root is refused here
            raise ConfigError([f"{u.loaded.display_path}: check.schemaLocations: {loc!r} is outside the repository "
                               f"({root}); check reads nothing outside it"])
        out.append(str(path))
    return out


_TOP_KEY = re.compile(r"(apiVersion|kind):\s*['\"]?([^\s'\"#]*)")


def _holds_flux_kustomization(text: str) -> bool:
    """A document of ``text`` says ``apiVersion: kustomize.toolkit.fluxcd.io/...`` and ``kind: Kustomization`` at
    its top level. One pass over the lines (a lazy multi-line regex was quadratic in the file's length)."""
    api = kind = False
    for line in text.splitlines():
        if line.startswith("---"):
            api = kind = False
            continue
        m = _TOP_KEY.match(line)
        if m is None:
            continue
        if m[1] == "kind":
            kind = m[2] == "Kustomization"
        else:
            api = m[2].startswith("kustomize.toolkit.fluxcd.io/")
        if api and kind:
            return True
    return False


def _externals(root: Path, group: list[_Unit], strict: frozenset[Path], ignored: Callable[[str], bool]) -> list[str]:
    """The configs' dependsOn targets exist outside this repository, unless it holds Flux Kustomizations of its own.

    A repository that holds other Flux Kustomizations is a real Flux repository: there a dependsOn target
    must be found like `validate` finds it, so a misspelled dependency fails. A folder holding only the
    rendered tree (the examples) cannot hold the dependency.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath) / name
            if not name.endswith((".yaml", ".yml")) or name.startswith(".") or _real(p) in strict:
                continue
            if ignored(p.relative_to(root).as_posix()):
                continue
            try:  # regular files inside the repository only (a symlink may point anywhere)
                text = safefile.scan_text(safefile.read_bytes(p, root=root))
            except OSError:
                continue
            if _holds_flux_kustomization(text):
                return []
    return [f"Kustomization/{d.namespace}/{d.name}" for u in group
            for d in (*u.loaded.config.flux.depends_on, *u.loaded.config.metrics.depends_on)]


# --------------------------------------------------------------------------------------------------
# Inputs that the replay store cannot see through Python's audit events. (kubectl builds a mirror that
# validate.kustomize writes from files Python read, so its inputs are seen.)


def _record_probes(rec: Recorder, u: _Unit) -> None:
    """The repository's `.sops.yaml` decides the recipients, even when it does not exist yet."""
    rec.probe(u.loaded.repo_root / ".sops.yaml")


# --------------------------------------------------------------------------------------------------
# The command's core: replay or run, then store


def cache_in_checkout(cache: Path, configs: list[Path]) -> bool:
    """A replay store inside the repository could have been committed by a pull request: never used."""
    from velero_gitops import boundary

    bound = boundary.of_paths(configs)
    return bound is not None and boundary.inside(_real(cache), bound)


def check_or_replay(configs: list[Path], options: CheckOptions, use_cache: bool = True) -> CheckResult:
    """A clean result stored for exactly these inputs, else a fresh run (stored when clean)."""
    from velero_gitops import runcache

    if not use_cache or runcache.disabled() or cache_in_checkout(runcache.cache_dir(), configs):
        return run_check(configs, options)
    key = runcache.request_key("check", [*options.words(), *(os.path.abspath(c) for c in configs)])
    stored = runcache.load(key)
    replayed = CheckResult.from_stored(stored) if stored is not None else None
    if replayed is not None:
        return replayed
    with runcache.Recorder() as rec:
        result = run_check(configs, options, recorder=rec)
    if result.clean:
        runcache.store(key, rec.inputs(), result.as_dict())
    return result
