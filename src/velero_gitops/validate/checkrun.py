"""`velero-gitops check`: render drift, validation of the rendered tree, the secret check. No writes."""

from __future__ import annotations

from pathlib import Path

from velero_gitops.validate.findings import Finding


def run_check(configs: list[Path], cache_dir: str | None = None) -> tuple[list[Finding], int, int, int]:
    from velero_gitops.loader import load
    from velero_gitops.pipeline import render_check
    from velero_gitops.validate.engine import Options, validate_paths

    findings: list[Finding] = []
    passed = failed = skipped = 0
    for cfg in configs:
        drift = render_check(cfg)
        findings.extend(drift)
        failed += len({f.file for f in drift if f.severity == "error"})

        loaded = load(cfg)
        conf = loaded.config
        tree = Path(loaded.repo_root) / conf.repo.apps_root
        externals = [f"Kustomization/{d.namespace or '*'}/{d.name}" for d in conf.flux.depends_on]
        # secret_check (below) owns the Secret rules in `check`: no double reports
        src = conf.flux.source_ref
        budget = conf.velero.node_agent.budget  # the config's node-agent budget is the policy's
        opts = Options(cache_dir=cache_dir, repo_root=str(loaded.repo_root), externals=externals,
                       repo_sources=[f"{src.kind}/{src.namespace}/{src.name}"], plaintext_secrets=False,
                       node_agent_cpu_limit=budget.cpu, node_agent_memory_limit=budget.memory)
        if tree.is_dir():
            result = validate_paths([str(tree)], opts)
            findings.extend(result.findings)
            passed += result.passed
            failed += result.failed
            skipped += result.skipped

        from velero_gitops import secret_check

        secret = secret_check.check_tree(loaded.repo_root, conf, config_file=loaded.display_path)
        findings.extend(secret)
        failed += len({f.file for f in secret if f.severity == "error"})
    return findings, passed, failed, skipped
