"""Running the OD API: the one process module, argv builders and run-time helpers."""
