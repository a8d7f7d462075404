"""Env steps to 90 % success on PandaPickCube (RLPD + 20 demos) vs SB3 SAC (one JSON object).

    python benchmarks/sample_efficiency.py [--json] [--steps N] [--utd G] [--eval-episodes E]

Same as `robolearn bench sample-efficiency`; the code is in robolearn/bench/sample_efficiency.py.
"""

import sys

from robolearn.bench.sample_efficiency import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
