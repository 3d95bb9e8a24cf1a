"""`./mgx` and the process supervisor it drives (`procs`). Django-free: it runs before the
database exists and must work when Django cannot start."""
