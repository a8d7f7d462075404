"""Distributed SERL transport: policy snapshot and image batch sizes and codec times, and the
env steps/s one actor process delivers to one learner process over ROS 2 (one JSON).

    python benchmarks/serl_transport.py [--json] [--task pick_cube] [--env Pendulum-v1]
        [--window 15] [--skip-ros] [--out FILE]

The code (and the definitions) are in robolearn/bench/serl_transport.py.
"""

import sys

from robolearn.bench.serl_transport import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
