"""Gradient updates/s, FLOPs per update and fraction of the GEMM rate of our RLPD learner vs
Stable-Baselines3 SAC (one JSON object).

    python benchmarks/learner_throughput.py [--json] [--seconds S | --steps N] [--rounds R]
        [--threads T] [--device cpu|cuda]

Same as `robolearn bench learner`; the code is in robolearn/bench/learner_throughput.py.
"""

import sys

from robolearn.bench.learner_throughput import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
