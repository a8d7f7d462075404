"""Conversions between robolearn's typed state/commands and standard ROS 2 messages.

Quaternions: robolearn uses (w, x, y, z); ROS messages carry x, y, z, w fields.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseArray, PoseStamped, TwistStamped, WrenchStamped
from sensor_msgs.msg import Image, JointState

from robolearn.robot.types import CartesianTarget, RobotState

ARM_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINT_NAMES = ("panda_finger_joint1", "panda_finger_joint2")
BASE_FRAME = "panda_link0"
UNIT_QUAT_TOLERANCE = 1e-3


class MessageRejected(ValueError):
    """A message was malformed; the reason says why (it is logged, and nothing moves)."""


def to_time(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def from_time(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def joint_state_msg(state: RobotState, stamp: Time) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = BASE_FRAME
    msg.name = list(ARM_JOINT_NAMES)
    msg.position = state.q.tolist()
    msg.velocity = state.dq.tolist()
    msg.effort = state.tau_ext.tolist()  # estimated external torques
    return msg


def gripper_state_msg(state: RobotState, stamp: Time) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(FINGER_JOINT_NAMES)
    half = 0.5 * state.gripper_width
    msg.position = [half, half]
    return msg


def pose_msg(position: np.ndarray, quat_wxyz: np.ndarray, stamp: Time, frame: str) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame
    p, o = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    o.w, o.x, o.y, o.z = (float(v) for v in quat_wxyz)
    return msg


def ee_pose_msg(state: RobotState, stamp: Time) -> PoseStamped:
    return pose_msg(state.ee_pos, state.ee_quat, stamp, BASE_FRAME)


def ee_twist_msg(state: RobotState, stamp: Time) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = BASE_FRAME
    t = state.ee_twist
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in t[:3])
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in t[3:])
    return msg


def ee_wrench_msg(state: RobotState, stamp: Time) -> WrenchStamped:
    msg = WrenchStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = BASE_FRAME
    w = state.ee_wrench
    msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = (float(v) for v in w[:3])
    msg.wrench.torque.x, msg.wrench.torque.y, msg.wrench.torque.z = (float(v) for v in w[3:])
    return msg


def object_poses_msg(poses: list[tuple[np.ndarray, np.ndarray]], stamp: Time) -> PoseArray:
    msg = PoseArray()
    msg.header.stamp = stamp
    msg.header.frame_id = BASE_FRAME
    for position, quat in poses:
        msg.poses.append(pose_msg(position, quat, stamp, BASE_FRAME).pose)
    return msg


def image_msg(rgb: np.ndarray, stamp: Time, frame: str) -> Image:
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.step = 3 * msg.width
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def image_from_msg(msg: Image) -> np.ndarray:
    """Inverse of `image_msg`: an (height, width, 3) uint8 RGB array (a read-only view)."""
    if msg.encoding != "rgb8":
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (expected rgb8)")
    return np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.width, 3)


def target_from_pose(msg: PoseStamped, frame: str = BASE_FRAME) -> CartesianTarget:
    """Decode a target pose; raise `MessageRejected` for NaN/inf, a non-unit quaternion, or a
    frame other than the robot base frame."""
    if msg.header.frame_id != frame:
        raise MessageRejected(
            f"target frame_id {msg.header.frame_id!r} is not the base frame {frame!r}"
        )
    p, o = msg.pose.position, msg.pose.orientation
    position = np.array([p.x, p.y, p.z])
    quat = np.array([o.w, o.x, o.y, o.z])
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quat))):
        raise MessageRejected(f"target contains NaN or inf: position={position}, quat={quat}")
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > UNIT_QUAT_TOLERANCE:
        raise MessageRejected(f"target quaternion is not unit length (norm {norm:.4f})")
    return CartesianTarget(position, quat / norm)


def state_from_messages(
    joints: JointState,
    pose: PoseStamped,
    twist: TwistStamped | None,
    wrench: WrenchStamped | None,
    gripper: JointState | None,
) -> RobotState:
    """Rebuild a `RobotState` from the bridge's topics (client side)."""
    if list(joints.name) != list(ARM_JOINT_NAMES):
        raise MessageRejected(f"unexpected joint names {list(joints.name)}")
    p, o = pose.pose.position, pose.pose.orientation
    if twist is not None:
        lin, ang = twist.twist.linear, twist.twist.angular
        ee_twist = np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z])
    else:
        ee_twist = np.zeros(6)
    if wrench is not None:
        f, t = wrench.wrench.force, wrench.wrench.torque
        ee_wrench = np.array([f.x, f.y, f.z, t.x, t.y, t.z])
    else:
        ee_wrench = np.zeros(6)
    width = float(sum(gripper.position)) if gripper is not None else 0.0
    return RobotState(
        q=np.asarray(joints.position, dtype=np.float64),
        dq=np.asarray(joints.velocity, dtype=np.float64),
        tau_ext=np.asarray(joints.effort, dtype=np.float64),
        ee_pos=np.array([p.x, p.y, p.z]),
        ee_quat=np.array([o.w, o.x, o.y, o.z]),
        ee_twist=ee_twist,
        ee_wrench=ee_wrench,
        gripper_width=width,
        timestamp=from_time(pose.header.stamp),
    )
