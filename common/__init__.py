"""Code shared by the supervisor and the worker processes: config, contracts, messages, metrics, logging."""
