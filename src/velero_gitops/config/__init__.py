"""Config and loading: the typed model, located errors, naming/unit/cron rules, the reference, `init`."""
