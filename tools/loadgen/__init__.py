"""`at-exec-sim loadgen`: an open-loop load generator and report for a running at-exec-sim."""
