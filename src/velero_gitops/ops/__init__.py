"""Operations around the tree: `init`, the S3 bucket, Backup/Restore manifests, explain, the versions report."""
