"""ROS 2 latency of the twin bridge: command round trip and state-stream rate, across processes.

The twin ``robot_bridge`` runs in its own process (``python -m robolearn.ros.robot_bridge``) and
this process is the client (a node with a ``RobotClient``, spun by the same executor as the ROS
gym env: ``MultiThreadedExecutor(num_threads=2)``), talking over DDS on loopback. Both processes
get a private ``ROS_DOMAIN_ID`` (checked to be empty before use, and to hold exactly one bridge
while measuring) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``. The bridge is started once per
requested publish rate (500 Hz, then 1 kHz) with ``task:=pick_cube``; it is armed through its
``arm`` service before any target is sent. All times are ``time.monotonic()`` in this process.

Definitions:

- **RTT** (``rtt_*_ms``): wall time from publishing a ``cartesian_target`` to the arrival at the
  client (the moment the client's subscription callback runs) of the first ``ee_pose`` whose
  position has moved toward that target by >= 1 micrometre, i.e.
  ``(p - p0) . u >= 1e-6`` with ``p0`` the last ``ee_pose`` seen before publishing and ``u`` the
  unit direction of the target; an ``ee_pose`` stamped before the target was (the bridge stamps
  with the wall clock, which both processes share) cannot reflect it and is not considered.
  Each trial's target is the current pose + 1 cm along one axis, in the order +x, +y, +z, -x,
  -y, -z (the arm stays in place on average and consecutive steps are orthogonal), with the
  current orientation. Between trials the arm settles for at least ``settle_s`` (0.1 s) and
  until its TCP velocity (``ee_twist``) along the next trial's direction is below 0.05 mm/s: the
  impedance-controlled arm rings for ~1 s after a 1 cm step, and residual motion along the next
  direction would fake or delay a response. A trial still unsettled after 5 s is run but left
  out of the percentiles (counted as ``unsettled_trials``; it happens when the machine is so
  loaded that the twin runs slower than real time). At rest the twin is deterministic and
  noise-free, and one 1 ms physics tick after a 1 cm step already moves the TCP ~4 um, so 1 um
  is unambiguous. A trial with no response within 1 s is a timeout (counted; any timeout fails
  the RTT target). The main keys are at 500 Hz (the bridge's default publish rate);
  ``rtt_*_ms_at_1000`` repeat the measurement with the bridge at 1 kHz. The details split each
  RTT with the header stamps: ``out_ms`` = target stamp -> stamp of the responding tick
  (transport, the bridge's executor and lock, the wait for the next tick, the tick itself; the
  bridge stamps a tick's messages after stepping it), ``back_ms`` = that stamp -> arrival
  (publishing, transport, the client's executor).
- **joint_states_hz_at_N**: the bridge started with ``publish_hz:=N``; after a warm-up
  (``warmup_s``, 1 s, armed and at rest), ``joint_states`` arrivals at the client are counted over
  a window (``window_s``, 5 s) and divided by its length. ``bridge_loop_hz`` in the details is
  the rate the bridge reports for its own loop (``/diagnostics`` ``publish_hz_achieved``), so a
  shortfall can be told apart: slow bridge loop vs messages lost or late on the way;
  ``client_process_cpu`` and ``bridge_process_cpu`` are each process's CPU time over the window
  divided by its length (1.0 = one core busy).
- **jitter_p99_ms**: the 99th percentile of ``|interval - 1/N|`` over the inter-arrival
  intervals of ``joint_states`` at the client in that window, at N = 1000;
  ``jitter_p99_ms_at_500`` is the same at 500 Hz.

Percentiles are numpy's (linear interpolation). Targets: ``rtt_p99_ms <= 5`` (and no timeouts),
``joint_states_hz_at_500 >= 0.95 * 500``. The numbers depend on the load of the machine (the
bridge loop, the bridge's executor and the client's executor all compete for the cores and each
process's GIL): the report records the core count and the load average before and after.

``main(["--json"])`` prints only the JSON object on stdout; progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from robolearn.bench import common
from robolearn.bench.common import machine_info, package_version

RATES = (500.0, 1000.0)  # publish_hz of the bridge; RTT keys without a suffix are at RATES[0]
DEFAULT_TRIALS = 200
DEFAULT_WINDOW_S = 5.0
DEFAULT_WARMUP_S = 1.0
DEFAULT_SETTLE_S = 0.1
DEFAULT_TASK = "pick_cube"
STEP_M = 0.01  # target = current pose + 1 cm along an axis
DETECT_M = 1e-6  # the TCP moved toward the target by this much: the target is reflected
STILL_M_PER_S = 5e-5  # settled: TCP speed along the next trial's direction below this
SETTLE_MAX_S = 5.0
RESPONSE_TIMEOUT_S = 1.0
READY_TIMEOUT_S = 90.0  # bridge start-up (imports, MuJoCo model, numba cache) on a loaded box
DIRECTIONS = tuple(
    tuple(float(sign * (axis == k)) for k in range(3)) for sign in (1, -1) for axis in range(3)
)  # +x, +y, +z, -x, -y, -z
TARGETS = {"rtt_p99_ms": 5.0, "joint_states_fraction_at_500": 0.95}
CLIENT_EXECUTORS = ("multi", "single")
DEFAULT_CLIENT_EXECUTOR = "single"  # as the ROS gym env (robolearn/envs/ros_env.py)


# --- the bridge process -----------------------------------------------------------------------


def ros_env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


def _exit_with_parent_hook() -> Any:
    """A pre-exec hook giving the child SIGTERM when the benchmark dies, however it dies (Linux
    prctl PR_SET_PDEATHSIG); libc is loaded here, so the child only makes the one C call."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


class BridgeProcess:
    """`python -m robolearn.ros.robot_bridge` in its own process, its output in a log file."""

    def __init__(self, domain_id: int, publish_hz: float, task: str, log_dir: Path) -> None:
        self.log_path = log_dir / f"robot_bridge_{publish_hz:g}hz.log"
        args = [sys.executable, "-m", "robolearn.ros.robot_bridge", "--ros-args"]
        params = [f"publish_hz:={float(publish_hz)!r}"]
        if task:
            params.append(f"task:={task}")
        for p in params:
            args += ["-p", p]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args,
            env=ros_env(domain_id),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_exit_with_parent_hook(),
        )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"robot_bridge exited with status {self.proc.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # rclpy shuts down cleanly on Ctrl-C
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()


# --- the client process -----------------------------------------------------------------------


@dataclass
class _Trial:
    base: tuple[float, float, float]
    direction: tuple[float, float, float]
    t_publish: float = 0.0
    t_response: float | None = None
    # Wall clock (CLOCK_REALTIME, shared by both processes; the bridge stamps with it): the
    # target's stamp, the responding ee_pose's stamp (taken in the bridge loop after the tick)
    # and the wall time of its arrival here. They split the RTT into out and back.
    target_stamp: float = 0.0
    response_stamp: float = 0.0
    response_wall: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


def _make_probe_class() -> type:
    """A `RobotClient` that also timestamps arrivals (built lazily: rclpy is an optional extra)."""
    from robolearn.ros.client import RobotClient

    class ProbeClient(RobotClient):
        """Every message still goes through `RobotClient._store` (the client's real work);
        `joint_states` arrivals are recorded while a window is open, and each `ee_pose` is
        checked against the pending trial."""

        def __init__(self, node: Any, **kwargs: Any) -> None:
            self._probe_lock = threading.Lock()
            self._recording: list[float] | None = None
            self._pose: tuple[float, float, float] | None = None
            self._trial: _Trial | None = None
            super().__init__(node, **kwargs)

        def _store(self, name: str, msg: Any) -> None:
            now = time.monotonic()
            super()._store(name, msg)
            if name == "joint_states":
                recording = self._recording
                if recording is not None:
                    recording.append(now)
            elif name == "ee_pose":
                p = msg.pose.position
                pos = (p.x, p.y, p.z)
                with self._probe_lock:
                    self._pose = pos
                    trial = self._trial
                    if trial is None:
                        return
                    stamp = msg.header.stamp
                    stamp_s = stamp.sec + stamp.nanosec * 1e-9
                    if stamp_s < trial.target_stamp:
                        return  # stepped before the target was sent: cannot reflect it
                    b, u = trial.base, trial.direction
                    moved = (pos[0] - b[0]) * u[0] + (pos[1] - b[1]) * u[1] + (pos[2] - b[2]) * u[2]
                    if moved >= DETECT_M:
                        trial.t_response = now
                        trial.response_wall = time.time()
                        trial.response_stamp = stamp_s
                        self._trial = None
                        trial.done.set()

        def start_recording(self) -> None:
            self._recording = []

        def stop_recording(self) -> list[float]:
            recording, self._recording = self._recording, None
            return list(recording or [])

        def begin_trial(self, direction: tuple[float, float, float], stamp: float) -> _Trial:
            """Make the last seen pose the baseline of a new pending trial."""
            with self._probe_lock:
                if self._pose is None:
                    raise RuntimeError("no ee_pose received yet")
                trial = _Trial(base=self._pose, direction=direction, target_stamp=stamp)
                self._trial = trial
            return trial

        def cancel_trial(self) -> None:
            with self._probe_lock:
                self._trial = None

    return ProbeClient


class ClientNode:
    """rclpy context (own domain, localhost discovery) + node + probe client, spun in a thread."""

    def __init__(self, domain_id: int, executor: str = "multi") -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        from robolearn.ros import qos

        if executor not in CLIENT_EXECUTORS:
            raise ValueError(f"client executor must be one of {CLIENT_EXECUTORS}, got {executor!r}")
        self.domain_id = domain_id
        self.context = rclpy.Context()
        saved = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE")
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # read by rcl at init
        try:
            rclpy.init(context=self.context, domain_id=domain_id)
        finally:
            if saved is None:
                os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
            else:
                os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = saved
        self.node = rclpy.create_node("ros_latency_bench", context=self.context)
        self.client = _make_probe_class()(self.node, max_age=2.0)
        self._diag_lock = threading.Lock()
        self._bridge_hz: list[float] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, qos.COMMAND)
        self.executor = _make_executor(executor, self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="bench_client_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races
            pass

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name != "robolearn/robot_bridge":
                continue
            for kv in status.values:
                if kv.key == "publish_hz_achieved":
                    with self._diag_lock:
                        self._bridge_hz.append(float(kv.value))

    def bridge_hz_reports(self, clear: bool = False) -> list[float]:
        with self._diag_lock:
            out = list(self._bridge_hz)
            if clear:
                self._bridge_hz.clear()
        return out

    def other_nodes(self) -> list[str]:
        return [n for n in self.node.get_node_names() if n != self.node.get_name()]

    def pose_publishers(self) -> int:
        return self.node.count_publishers("/ee_pose")

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)


def _make_executor(kind: str, context: Any) -> Any:
    if kind == "multi":
        from rclpy.executors import MultiThreadedExecutor

        return MultiThreadedExecutor(num_threads=2, context=context)
    # (rclpy's experimental EventsExecutor deadlocks against publishing threads in the kilted
    # wheels, so it is not offered.)
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context)


def _wait(predicate: Any, timeout: float, what: str, bridge: BridgeProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bridge is not None:
            bridge.check_alive()
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.02)
    tail = f"\nbridge log:\n{bridge.log_tail()}" if bridge is not None else ""
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{tail}")


# ROS 2 domains 215-232 are clear of Linux's ephemeral ports, and of tests/ros (10-209).
DOMAIN_RANGE = range(215, 233)


def _default_domain_ids(count: int = 5) -> list[int]:
    first = os.getpid() % len(DOMAIN_RANGE)
    return [DOMAIN_RANGE[(first + k) % len(DOMAIN_RANGE)] for k in range(count)]


@contextmanager
def client_in_free_domain(
    domain_id: int | None, executor: str, probe_s: float = 1.0
) -> Iterator[ClientNode]:
    """A `ClientNode` in `domain_id`, or in the first of a few candidates with no other node."""
    candidates = [domain_id] if domain_id is not None else _default_domain_ids()
    for candidate in candidates:
        client = ClientNode(candidate, executor)
        time.sleep(probe_s)  # discovery on localhost takes well under a second
        others = client.other_nodes()
        if not others:
            try:
                yield client
            finally:
                client.close()
            return
        client.close()
    raise RuntimeError(
        f"ROS domain(s) {candidates} already have nodes on this machine ({others}); "
        "pass a free --domain-id"
    )


# --- measurements -----------------------------------------------------------------------------


def _percentiles(values: Sequence[float], scale: float = 1.0) -> dict[str, float | None]:
    if len(values) == 0:
        return {k: None for k in ("p50", "p90", "p99", "max", "min", "mean")}
    a = np.asarray(values, dtype=np.float64) * scale
    return {
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "min": float(a.min()),
        "mean": float(a.mean()),
    }


def _bar(total: float, desc: str, unit: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not enabled,
        leave=True,
        dynamic_ncols=True,
    )


def _sleep_with_bar(seconds: float, desc: str, progress: bool) -> None:
    with _bar(round(seconds, 3), desc, "s", progress) as bar:
        start = time.monotonic()
        shown = 0.0
        while (elapsed := time.monotonic() - start) < seconds:
            time.sleep(min(0.25, seconds - elapsed))
            done = round(min(time.monotonic() - start, seconds), 3)
            bar.update(done - shown)
            shown = done


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, all threads (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _cpu_fraction(before: float | None, after: float | None, wall: float) -> float | None:
    return None if before is None or after is None else (after - before) / wall


def measure_rate(
    node: ClientNode,
    publish_hz: float,
    window_s: float,
    progress: bool,
    bridge_pid: int | None = None,
) -> dict[str, Any]:
    """joint_states arrivals at the client over `window_s`: rate and inter-arrival jitter."""
    node.bridge_hz_reports(clear=True)
    probe = node.client
    bridge_cpu0 = _process_cpu_s(bridge_pid) if bridge_pid else None
    client_cpu0 = time.process_time()
    t0 = time.monotonic()
    probe.start_recording()
    _sleep_with_bar(window_s, f"joint_states @ {publish_hz:g} Hz", progress)
    arrivals = probe.stop_recording()
    t1 = time.monotonic()
    client_cpu1 = time.process_time()
    bridge_cpu1 = _process_cpu_s(bridge_pid) if bridge_pid else None
    period = 1.0 / publish_hz
    intervals = np.diff(np.asarray(arrivals)) if len(arrivals) > 1 else np.zeros(0)
    jitter = np.abs(intervals - period)
    hz = len(arrivals) / (t1 - t0)
    bridge_hz = node.bridge_hz_reports()
    return {
        "requested_hz": publish_hz,
        "hz": hz,
        "fraction_of_requested": hz / publish_hz,
        "messages": len(arrivals),
        "window_s": t1 - t0,
        "interval_ms": _percentiles(intervals, 1e3),
        "jitter_ms": _percentiles(jitter, 1e3),
        "intervals_over_2_periods": int(np.count_nonzero(intervals > 2 * period)),
        "bridge_loop_hz": float(np.mean(bridge_hz)) if bridge_hz else None,
        "bridge_loop_hz_reports": bridge_hz,
        # CPU time / wall time over the window (1.0 = one core busy), all threads.
        "client_process_cpu": _cpu_fraction(client_cpu0, client_cpu1, t1 - t0),
        "bridge_process_cpu": _cpu_fraction(bridge_cpu0, bridge_cpu1, t1 - t0),
    }


def _tcp_speed_along(node: ClientNode, direction: tuple[float, float, float]) -> float:
    twist = node.client.state(max_age=1.0).ee_twist
    return abs(float(np.dot(twist[:3], direction)))


def _settle(
    node: ClientNode, direction: tuple[float, float, float], settle_s: float
) -> tuple[float, bool]:
    """Wait `settle_s`, then until the TCP is still along `direction` (at most SETTLE_MAX_S)."""
    t0 = time.monotonic()
    time.sleep(settle_s)
    while True:
        if _tcp_speed_along(node, direction) < STILL_M_PER_S:
            return time.monotonic() - t0, True
        if time.monotonic() - t0 > SETTLE_MAX_S:
            return time.monotonic() - t0, False
        time.sleep(0.005)


def measure_rtt(
    node: ClientNode, publish_hz: float, trials: int, settle_s: float, progress: bool
) -> dict[str, Any]:
    """`trials` 1 cm steps: publish -> first ee_pose that moved >= 1 um toward the target."""
    from robolearn.ros import codecs

    probe = node.client
    rtts: list[float] = []
    timeouts = unsettled = 0
    settle_times: list[float] = []
    residual: list[float] = []
    out_legs: list[float] = []
    back_legs: list[float] = []
    with _bar(trials, f"RTT @ {publish_hz:g} Hz", "trial", progress) as bar:
        for i in range(trials):
            direction = DIRECTIONS[i % len(DIRECTIONS)]
            waited, still = _settle(node, direction, settle_s)
            settle_times.append(waited)
            unsettled += not still
            residual.append(_tcp_speed_along(node, direction))
            quat = probe.state(max_age=1.0).ee_quat
            stamp = node.node.get_clock().now().to_msg()
            trial = probe.begin_trial(direction, codecs.from_time(stamp))
            target = np.asarray(trial.base) + STEP_M * np.asarray(direction)
            msg = codecs.pose_msg(target, quat, stamp, codecs.BASE_FRAME)
            trial.t_publish = time.monotonic()
            probe.pub_target.publish(msg)
            if not (trial.done.wait(RESPONSE_TIMEOUT_S) and trial.t_response is not None):
                probe.cancel_trial()
                timeouts += 1
            elif still:  # an unsettled start makes the RTT ill-defined: counted, not used
                rtts.append(trial.t_response - trial.t_publish)
                out_legs.append(trial.response_stamp - trial.target_stamp)
                back_legs.append(trial.response_wall - trial.response_stamp)
            bar.update()
    return {
        "publish_hz": publish_hz,
        "trials": trials,
        "responses": len(rtts),  # the samples of the percentiles
        "timeouts": timeouts,
        "rtt_ms": _percentiles(rtts, 1e3),
        # target stamped -> the bridge stamps the tick that reflects it (transport to the bridge,
        # its executor, the wait for the next tick, the tick itself)
        "out_ms": _percentiles(out_legs, 1e3),
        # bridge stamp -> arrival at the client (the rest of the tick's publishing, transport,
        # the client's executor)
        "back_ms": _percentiles(back_legs, 1e3),
        "settle_s": _percentiles(settle_times),
        "unsettled_trials": unsettled,
        "residual_speed_along_target_mm_per_s_max": max(residual) * 1e3 if residual else None,
    }


def measure_bridge(
    node: ClientNode,
    publish_hz: float,
    *,
    trials: int,
    window_s: float,
    warmup_s: float,
    settle_s: float,
    task: str,
    log_dir: Path,
    progress: bool,
) -> dict[str, Any]:
    """Start a bridge at `publish_hz`, arm it, measure the joint_states rate, then the RTT."""
    if node.pose_publishers() != 0:
        raise RuntimeError(f"something already publishes ee_pose in domain {node.domain_id}")
    bridge = BridgeProcess(node.domain_id, publish_hz, task, log_dir)
    try:
        probe = node.client
        _wait(
            lambda: probe.has("joint_states") and probe.has("ee_pose") and probe.state(1.0),
            READY_TIMEOUT_S,
            f"the bridge's state streams at {publish_hz:g} Hz",
            bridge,
        )
        # The ROS graph (rmw's discovery-info topic) can lag the data by a moment.
        _wait(lambda: node.pose_publishers() >= 1, 10.0, "the bridge in the ROS graph", bridge)
        if node.pose_publishers() != 1:
            raise RuntimeError(f"{node.pose_publishers()} ee_pose publishers in the domain")
        response = probe.call("arm", timeout=10.0)
        if not response.success:
            raise RuntimeError(f"the bridge refused to arm: {response.message}")
        _wait(lambda: probe.armed, 10.0, "the latched 'armed' topic", bridge)
        _sleep_with_bar(warmup_s, f"warm-up @ {publish_hz:g} Hz", progress)
        rate = measure_rate(node, publish_hz, window_s, progress, bridge.proc.pid)
        rtt = measure_rtt(node, publish_hz, trials, settle_s, progress) if trials else None
        bridge.check_alive()
        publishers = node.pose_publishers()
        if publishers != 1:
            raise RuntimeError(f"{publishers} ee_pose publishers in the domain: cross-talk")
        probe.call("disarm", timeout=10.0)
    finally:
        bridge.stop()
    _wait(lambda: node.pose_publishers() == 0, 10.0, "the bridge to leave the graph")
    return {"joint_states": rate, "rtt": rtt}


# --- the whole benchmark ----------------------------------------------------------------------


def _ros_info() -> dict[str, Any]:
    import rclpy

    try:
        rmw = rclpy.get_rmw_implementation_identifier()
    except Exception:  # noqa: BLE001 - informational only
        rmw = os.environ.get("RMW_IMPLEMENTATION")
    return {
        "rclpy": package_version("ros-kilted-rclpy") or package_version("ros-rclpy"),
        "rmw": rmw,
        "fastdds": package_version("ros-fastdds"),
        "ros_distro": os.environ.get("ROS_DISTRO") or "kilted (PyPI wheels)",
    }


def run_benchmark(
    trials: int = DEFAULT_TRIALS,
    window_s: float = DEFAULT_WINDOW_S,
    warmup_s: float = DEFAULT_WARMUP_S,
    settle_s: float = DEFAULT_SETTLE_S,
    task: str = DEFAULT_TASK,
    domain_id: int | None = None,
    client_executor: str = DEFAULT_CLIENT_EXECUTOR,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the measurements at 500 Hz and 1 kHz (one bridge process each); return the report."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if window_s <= 0 or warmup_s < 0 or settle_s < 0:
        raise ValueError("window_s must be positive, warmup_s and settle_s non-negative")
    from robolearn.ros import require_rclpy

    require_rclpy()
    load_before = os.getloadavg()
    wall0 = time.monotonic()
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="robolearn-bench-ros-") as tmp:
        with client_in_free_domain(domain_id, client_executor) as node:
            used_domain = node.domain_id
            for hz in RATES:
                details[f"{hz:g}"] = measure_bridge(
                    node,
                    hz,
                    trials=trials,
                    window_s=window_s,
                    warmup_s=warmup_s,
                    settle_s=settle_s,
                    task=task,
                    log_dir=Path(tmp),
                    progress=progress,
                )
    load_after = os.getloadavg()
    at500, at1000 = details["500"], details["1000"]
    rtt500, rtt1000 = at500["rtt"], at1000["rtt"]
    js500, js1000 = at500["joint_states"], at1000["joint_states"]

    warnings = []
    for hz, d in details.items():
        if d["rtt"]["timeouts"]:
            warnings.append(f"{d['rtt']['timeouts']} RTT trials at {hz} Hz got no response")
        if d["rtt"]["unsettled_trials"]:
            warnings.append(
                f"{d['rtt']['unsettled_trials']} RTT trials at {hz} Hz started before the arm "
                f"was still (speed along the target >= {STILL_M_PER_S * 1e3:g} mm/s after "
                f"{SETTLE_MAX_S:g} s) and were left out of the percentiles"
            )
    usable = machine_info()["cpus_usable"] or 1
    if max(load_before[0], load_after[0]) > 0.5 * usable:
        warnings.append(
            f"the machine was busy (1-min load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after, {usable} usable cores): timings are noisy"
        )

    rtt_p99 = rtt500["rtt_ms"]["p99"]
    met = {
        "rtt_p99_ms": rtt_p99 is not None
        and rtt_p99 <= TARGETS["rtt_p99_ms"]
        and rtt500["timeouts"] == 0,
        "joint_states_hz_at_500": js500["fraction_of_requested"]
        >= TARGETS["joint_states_fraction_at_500"],
    }
    met["all"] = all(met.values())
    machine = machine_info()
    machine.update(_ros_info())
    machine["loadavg_before"] = list(load_before)
    machine["loadavg_after"] = list(load_after)
    return {
        "benchmark": "ros_latency",
        "rtt_p50_ms": rtt500["rtt_ms"]["p50"],
        "rtt_p99_ms": rtt_p99,
        "joint_states_hz_at_500": js500["hz"],
        "joint_states_hz_at_1000": js1000["hz"],
        "jitter_p99_ms": js1000["jitter_ms"]["p99"],
        "jitter_p99_ms_at_500": js500["jitter_ms"]["p99"],
        "rtt_p50_ms_at_1000": rtt1000["rtt_ms"]["p50"],
        "rtt_p99_ms_at_1000": rtt1000["rtt_ms"]["p99"],
        "targets": dict(TARGETS),
        "targets_met": met,
        "samples": {
            "rtt_trials_at_500": rtt500["trials"],
            "rtt_responses_at_500": rtt500["responses"],
            "rtt_trials_at_1000": rtt1000["trials"],
            "rtt_responses_at_1000": rtt1000["responses"],
            "joint_states_at_500": js500["messages"],
            "joint_states_at_1000": js1000["messages"],
        },
        "method": {
            "step_m": STEP_M,
            "detect_m": DETECT_M,
            "settle_s": settle_s,
            "still_m_per_s": STILL_M_PER_S,
            "response_timeout_s": RESPONSE_TIMEOUT_S,
            "window_s": window_s,
            "warmup_s": warmup_s,
            "task": task,
            "client_executor": client_executor,
            "processes": "bridge and client in separate processes, DDS on loopback",
            "domain_id": used_domain,
            "discovery_range": "LOCALHOST",
        },
        "seconds": time.monotonic() - wall0,
        "machine": machine,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "warnings": warnings,
        "details": details,
    }


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(report: dict[str, Any]) -> str:
    """A readable summary of `run_benchmark`'s report (times in ms)."""
    lines = [
        f"ROS latency, twin bridge <-> client over DDS on loopback "
        f"(client executor: {report['method']['client_executor']}; times in ms)",
        f"{'publish_hz':>10} {'js Hz':>8} {'of req':>7} {'bridge Hz':>9} {'jit p99':>8} "
        f"{'RTT p50':>8} {'RTT p99':>8} {'RTT max':>8} {'n':>5} {'lost':>5}",
    ]
    for hz, d in report["details"].items():
        js, rtt = d["joint_states"], d["rtt"]
        lines.append(
            f"{hz:>10} {js['hz']:8.1f} {js['fraction_of_requested']:7.1%} "
            f"{_num(js['bridge_loop_hz'], '9.1f'):>9} {_num(js['jitter_ms']['p99'], '8.3f'):>8} "
            f"{_num(rtt['rtt_ms']['p50'], '8.3f'):>8} {_num(rtt['rtt_ms']['p99'], '8.3f'):>8} "
            f"{_num(rtt['rtt_ms']['max'], '8.3f'):>8} {rtt['responses']:5d} {rtt['timeouts']:5d}"
        )
    t, m = report["targets"], report["targets_met"]
    lines.append(
        f"rtt_p99_ms {_num(report['rtt_p99_ms'], '.3f')} <= {t['rtt_p99_ms']:g}: "
        f"{'met' if m['rtt_p99_ms'] else 'NOT met'}; joint_states_hz_at_500 "
        f"{report['joint_states_hz_at_500']:.1f} >= {t['joint_states_fraction_at_500']:.0%} of "
        f"500: {'met' if m['joint_states_hz_at_500'] else 'NOT met'}"
    )
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench ros",
        description=(
            "Round trip target -> ee_pose and joint_states rate/jitter of the twin robot_bridge "
            "(own process) seen by a client over DDS on loopback, at 500 Hz and 1 kHz; prints "
            "one JSON object."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON on stdout")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument(
        "--trials", type=common.positive_int, default=DEFAULT_TRIALS, help="RTT trials per rate"
    )
    parser.add_argument(
        "--window",
        type=common.positive_float,
        default=DEFAULT_WINDOW_S,
        help="seconds of joint_states counted per rate",
    )
    parser.add_argument(
        "--warmup",
        type=common.nonnegative_float,
        default=DEFAULT_WARMUP_S,
        help="seconds after arming before the window",
    )
    parser.add_argument(
        "--settle",
        type=common.nonnegative_float,
        default=DEFAULT_SETTLE_S,
        help="least seconds between an RTT response and the next target",
    )
    parser.add_argument("--task", default=DEFAULT_TASK, help="the bridge's task parameter")
    parser.add_argument(
        "--domain-id", type=int, help="ROS_DOMAIN_ID to use (default: a free one of 215-232)"
    )
    parser.add_argument(
        "--client-executor",
        choices=CLIENT_EXECUTORS,
        default=DEFAULT_CLIENT_EXECUTOR,
        help="rclpy executor of the client (multi: as the ROS gym env)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        trials=args.trials,
        window_s=args.window,
        warmup_s=args.warmup,
        settle_s=args.settle,
        task=args.task,
        domain_id=args.domain_id,
        client_executor=args.client_executor,
        progress=not args.no_progress,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
