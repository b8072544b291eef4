"""The render pipeline: plan (pure decisions) -> templating -> write (atomic), tied together by pipeline."""
