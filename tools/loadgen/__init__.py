"""`at-exec-sim loadgen`: an open-loop load generator and report for a running at-exec-sim.

Runs in the loadgen process (`at-exec-sim loadgen`, and inside `at-exec-sim
demo`); the integration tests run the command. It owns the intents it sends, the
quotes it publishes and the JetStream consumers that read the answers back,
nothing of the service's. Needs the tools extra: rich (the terminal view) and,
for --report, matplotlib.

- pure: plan.py (what is sent), mix.py (the three mixes), schedule.py (when:
  constant rate or ramping stages), stats.py (the figures), metrics.py (their
  names), thresholds.py (pass/fail), baseline.py (against an earlier run),
  explain.py (why intents went unanswered), export.py (JSON and CSV shapes).
- on the run's asyncio loop: runner.py (the run, step by step), readback.py and
  answers.py (the answers read back from the stream), service_watch.py (the
  service's /metrics and consumer state), feed.py (the quote feed).
- command.py: options; outcome.py: the verdict, output files and exit status;
  view.py: the terminal output; report.py: the HTML report.
"""
