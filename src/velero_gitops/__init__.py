"""velero-gitops: one typed config in, a validated FluxCD tree for Velero out."""

__version__ = "0.2.0"
