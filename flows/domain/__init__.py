"""Pure rules: plans, readiness, scoring. No storage, no engine."""
