"""Settings package: `base` is the one to run with; `test` points it at a private stack.

Every secret and address comes from the environment (docs/settings.md); the concern
modules (`celery`, `channels`, `mongo`, `otel`) each own their slice and are star-imported
by `base`.
"""
