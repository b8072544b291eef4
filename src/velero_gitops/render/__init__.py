"""The render steps: plan (pure decisions) -> templating (jinja2, parsed back) -> write (atomic, locked, headers)."""
