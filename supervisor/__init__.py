"""The supervisor process: NATS, the worker pool, release and publishing, acking, the CLI."""
