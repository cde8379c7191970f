"""The `stylenet` command line (main.py), one module of verbs per wing."""

import time

STARTED = time.perf_counter()  # the first of our code a `stylenet` process runs: `perform --timings` counts from here
