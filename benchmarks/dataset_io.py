"""Dataset I/O: 30 Hz recording, random-batch sampling vs robomimic, size on disk (one JSON).

    python benchmarks/dataset_io.py [--json] [--seconds 120] [--out FILE] [--batches N]

Same as `robolearn bench data`; the code is in robolearn/bench/dataset_io.py.
"""

import sys

from robolearn.bench.dataset_io import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
