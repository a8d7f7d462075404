"""Arena evaluation episodes/s with 1 and 2 worker processes, and the scaling (one JSON object).

    python benchmarks/arena_throughput.py [--json] [--episodes N] [--rounds R]

Same as `robolearn bench arena`; the code is in robolearn/bench/arena_throughput.py.
"""

import os
import sys

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

from robolearn.bench.arena_throughput import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
