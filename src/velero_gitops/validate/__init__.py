"""Validation of any Flux tree: schemas (strict), kustomize builds, the Flux graph and policy.

Rule modules share one protocol: each exposes ``check(...) -> list[Finding]``, which ``engine.validate_paths``
calls once per run on the objects read. A rule on the Flux graph takes ``(graph, objects)`` (flux, crd_providers,
substitution, and each module of fluxrules/, which the engine discovers: a new graph rule is one module there plus its
test); a rule on objects alone takes ``(objects)`` or ``(objects, options)`` (flux_version, policy). The
name means "the findings of this module's rules" and nothing else here: the CLI's ``check`` command is
``cli.validate_cmds.check_cmd``.
"""
