"""Validation of any Flux tree: schemas (strict), kustomize builds, the Flux graph and policy."""
