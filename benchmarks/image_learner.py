"""RLPD gradient steps/s from pixels (conv encoder, 2 cameras + state, 10 critics, DrQ shift).

    python benchmarks/image_learner.py [--json] [--sizes 64 128] [--batch 256] [--threads 1]

The code is in robolearn/bench/image_learner.py.
"""

import sys

from robolearn.bench.image_learner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
