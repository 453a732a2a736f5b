"""`at-exec-sim loadgen`: an open-loop load generator and report for a running at-exec-sim.

Runs in the loadgen process (`at-exec-sim loadgen`, and inside `at-exec-sim
demo`); the integration tests run the command. It owns the intents it sends and
the JetStream consumers that read the answers back, nothing of the service's.
Needs the tools extra: rich (the terminal view) and, for --report, matplotlib.

- plan.py: what is sent and when (pure); stats.py: the figures (pure).
- runner.py: the asyncio run against NATS; readback.py: the answers read back
  from the stream; command.py: options and exit codes.
- view.py: the terminal output; report.py: the HTML report.
"""
