"""What SERL actors and learners share on the wire: topic names, QoS, payload messages.

Payloads are `robolearn.learn.codec` bytes in std_msgs/UInt8MultiArray. Measured in rclpy
(Kilted) with a 4 MB payload: assigning ``bytes`` to a UInt8MultiArray's ``data`` takes about
3 ms and its deserialised ``data`` is an ``array.array`` that numpy and safetensors read without
a copy; a ByteMultiArray deserialises into a list of one-byte ``bytes`` objects (about 45 ms,
and a join on top).
"""

from __future__ import annotations

import threading
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import UInt8MultiArray

from robolearn.ros import qos

TRANSITIONS_TOPIC = "serl/transitions"
WEIGHTS_TOPIC = "serl/weights"
# Transition batches: every batch matters (reliable), and a burst after a learner returns
# should not overwrite queued ones.
TRANSITIONS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# Weights: the newest snapshot only, kept by the learner for actors that join later.
WEIGHTS_QOS = qos.LATCHED
# The learner's /diagnostics status name; actors take its 1 Hz status as a heartbeat.
LEARNER_STATUS = "serl_learner"
LEARNER_GRACE_S = 1.0  # actors wait this long after a learner appears before sending to it


def bytes_msg(payload: bytes) -> UInt8MultiArray:
    """A UInt8MultiArray carrying ``payload`` (one copy into the message's array)."""
    msg = UInt8MultiArray()
    msg.data = payload
    return msg


def msg_bytes(msg: UInt8MultiArray) -> memoryview:
    """The payload of a received UInt8MultiArray, without copying it."""
    return memoryview(msg.data)


def status_values(values: dict[str, Any]) -> list[KeyValue]:
    """Counters as diagnostic key/value pairs."""
    return [KeyValue(key=k, value=str(v)) for k, v in values.items()]


def spin_until_shutdown(node: Node) -> None:
    """Spin ``node`` on a single-threaded executor until Ctrl-C, SIGTERM or shutdown, then
    destroy it (its ``destroy_node`` saves or flushes what it must) and shut rclpy down."""
    try:
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok(context=node.context):
            raise
        # a callback that ran into the context being shut down (SIGTERM): not an error
    finally:
        node.destroy_node()
        if rclpy.ok(context=node.context):
            rclpy.shutdown(context=node.context)


class StatusMonitor:
    """The latest ``/diagnostics`` values of every SERL node, by status name (``serl_learner``,
    ``serl_actor/<id>``), collected by a node spinning in a background thread of its own
    context. For benchmarks and tests that watch actors and learner from outside."""

    def __init__(self, name: str = "serl_status_monitor") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.latest: dict[str, dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on, qos.COMMAND)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _on(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.latest[status.name] = {kv.key: kv.value for kv in status.values}

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races
            pass

    def value(self, name: str, key: str, cast: Any = int) -> Any:
        """``cast`` of the latest value of ``key`` in status ``name`` (KeyError: none yet)."""
        return cast(self.latest[name][key])

    def close(self) -> None:
        rclpy.shutdown(context=self.context)  # wakes the spinning thread
        self.thread.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
