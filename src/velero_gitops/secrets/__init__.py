"""SOPS and the Secrets: the sops binary, credentials, the S3 and repository-password Secrets, checks."""
