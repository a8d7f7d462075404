"""Gradient updates/s of our RLPD learner vs Stable-Baselines3 SAC (one JSON object).

    python benchmarks/learner_throughput.py [--json] [--steps N] [--rounds R] [--threads T]

Same as `robolearn bench learner`; the code is in robolearn/bench/learner_throughput.py.
"""

import sys

from robolearn.bench.learner_throughput import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
