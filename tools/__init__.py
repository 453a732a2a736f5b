"""What runs beside the service, not in it: the load generator, replay, the demo, embedded NATS."""
