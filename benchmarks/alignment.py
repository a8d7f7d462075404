"""CPA alignment: time for 500 x 500 segments (plain GW exact / entropic, fused GW), or with
--accuracy the transferred-label accuracy between reach, pick_cube and peg_insert (one JSON).

    python benchmarks/alignment.py [--json] [--n 500] [--repeats 3]
    python benchmarks/alignment.py --accuracy [--seeds 0 1 2] [--data DIR]

Same as `robolearn bench alignment`; the code is in robolearn/bench/alignment.py.
"""

import sys

from robolearn.bench.alignment import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
