"""Day-2 operations: the S3 bucket, Backup/Restore manifests, explain."""
