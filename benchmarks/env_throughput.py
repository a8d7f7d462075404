"""Env steps/s of the twin env vs robosuite Lift vs the raw MuJoCo limit (one JSON object).

    python benchmarks/env_throughput.py [--json] [--steps N] [--seed S] [--out FILE]

Same as `robolearn bench env`; the code is in robolearn/bench/env_throughput.py.
"""

import sys

from robolearn.bench.env_throughput import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
