"""ROS 2 round trip target -> ee_pose and joint_states rate/jitter of the twin bridge (one JSON).

    python benchmarks/ros_latency.py [--json] [--trials N] [--window S] [--out FILE]

Same as `robolearn bench ros`; the code (and the definitions) are in robolearn/bench/ros_latency.py.
"""

import sys

from robolearn.bench.ros_latency import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
