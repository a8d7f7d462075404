"""CPA alignment time for 500 x 500 segments, exact and entropic Gromov-Wasserstein (one JSON).

    python benchmarks/alignment.py [--json] [--n 500] [--repeats 3]

Same as `robolearn bench alignment`; the code is in robolearn/bench/alignment.py.
"""

import sys

from robolearn.bench.alignment import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
