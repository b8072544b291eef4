"""Config and loading: the typed model (all defaults), located errors, naming/unit/cron/PEM rules, the reference."""
