"""The render steps: plan (pure decisions) -> templating (file layout in jinja2, documents by yamlfmt) -> write (atomic, locked, headers)."""
