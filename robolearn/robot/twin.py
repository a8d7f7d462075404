"""`TwinRobot`: the MuJoCo digital twin of a Franka cell behind the `Robot` interface.

Physics runs at 1 kHz (Franka's control rate). Every physics step recomputes the Cartesian
impedance law from MuJoCo's Jacobian and mass matrix, exactly as the torque-mode hardware loop
does, and adds MuJoCo's bias forces in place of the Franka firmware's gravity compensation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from robolearn.robot.base import Robot, RobotConfig, register_robot
from robolearn.robot.control import external_wrench, pack_joint_limits, pack_params
from robolearn.robot.limits import load_limits
from robolearn.robot.safety import SafetyLayer, UnsafeCommandError
from robolearn.robot.transforms import mat_to_quat
from robolearn.robot.twin_loop import run_ticks
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState
from robolearn.sim.scene import (
    ARM_JOINTS,
    CAMERAS,
    FINGER_JOINTS,
    TCP_SITE,
    SpecEdit,
    build_scene,
)

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class TwinConfig(RobotConfig):
    scene: str | None = None  # task objects from sim/scenes/<scene>.xml
    physics_dt: float = 0.001  # 1 kHz, Franka's control rate
    cameras: tuple[str, ...] = field(default_factory=tuple)  # names from sim.scene.CAMERAS
    image_size: tuple[int, int] = (128, 128)  # (height, width)
    scene_edits: tuple[SpecEdit, ...] = ()  # MjSpec edits before compiling (see build_scene)


class NotConnectedError(RuntimeError):
    """A method that needs the simulation was called before `connect()`."""


@register_robot("twin", TwinConfig)
class TwinRobot(Robot):
    """The twin. `model`/`data` are public so tasks can place and read their objects."""

    simulated = True

    def __init__(self, config: TwinConfig | None = None) -> None:
        self.config = config or TwinConfig()
        for name in self.config.cameras:
            if name not in CAMERAS:
                raise ValueError(f"unknown camera {name!r}; known: {', '.join(sorted(CAMERAS))}")
        self.limits = load_limits(self.config.limits_file)
        self.safety = SafetyLayer(self.limits)
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._render_options = mujoco.MjvOption()
        self._render_options.sitegroup[:] = 0  # robosuite's debug sites stay invisible

    # --- lifecycle ----------------------------------------------------------------------------
    def connect(self) -> None:
        if self.model is not None:
            return
        built = build_scene(self.config.scene, self.config.physics_dt, self.config.scene_edits)
        m = built.model
        self.model, self.data = m, mujoco.MjData(m)
        self._arm_qpos = np.array([m.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._arm_dof = np.array([m.joint(j).dofadr[0] for j in ARM_JOINTS])
        if not np.array_equal(self._arm_dof, np.arange(7)) or not np.array_equal(
            self._arm_qpos, np.arange(7)
        ):
            raise RuntimeError("the arm joints must be the first seven degrees of freedom")
        self._finger_qpos = np.array([m.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self._tcp = m.site(TCP_SITE).id
        self._joint_limits = pack_joint_limits(self.limits)
        # Preallocated buffers for the 1 kHz loop.
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._jac = np.zeros((6, 7))
        self._mass_full = np.zeros((m.nv, m.nv))
        # MjData's arrays are fixed views of its buffers: fetch them once for the tick loop.
        d = self.data
        self._model_address, self._data_address = m._address, d._address
        self._tick_buffers = (
            self._jacp, self._jacr, self._mass_full, d.qM,
            d.qpos, d.qvel, d.qfrc_bias, d.site_xpos, d.site_xmat, d.ctrl,
        )  # fmt: skip
        self._state_cache: RobotState | None = None
        self._target = np.zeros(7)  # position + quaternion, what the law tracks
        self._params = pack_params(self.limits, self.limits.arm.home_joint_positions)
        self._gripper_width = self.limits.gripper.max_width
        self.reset()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
        self.model = None
        self.data = None

    def _require(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        if self.model is None or self.data is None:
            raise NotConnectedError("TwinRobot is not connected; call connect() or use `with`")
        return self.model, self.data

    # --- state --------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self._require()[1].time)

    def observe(self) -> RobotState:
        m, d = self._require()
        if self._state_cache is not None:
            return self._state_cache
        mujoco.mj_forward(m, d)
        self._update_jacobian()
        q = d.qpos[:7].copy()
        dq = d.qvel[:7].copy()
        # External torques: what contacts (and limit constraints) apply to the arm joints.
        tau_ext = d.qfrc_constraint[:7].copy()
        wrench = external_wrench(self._jac, tau_ext)
        self._state_cache = RobotState(
            q=q,
            dq=dq,
            tau_ext=tau_ext,
            ee_pos=d.site_xpos[self._tcp].copy(),
            ee_quat=mat_to_quat(d.site_xmat[self._tcp].reshape(3, 3)),
            ee_twist=self._jac @ dq,
            ee_wrench=wrench,
            gripper_width=float(d.qpos[self._finger_qpos[0]] - d.qpos[self._finger_qpos[1]]),
            timestamp=float(d.time),
        )
        return self._state_cache

    def mark_state_changed(self) -> None:
        """Call after editing MjData by hand: the next observe() recomputes the state."""
        self._state_cache = None

    def _update_jacobian(self) -> None:
        m, d = self.model, self.data
        mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self._tcp)
        self._jac[:3] = self._jacp[:, :7]
        self._jac[3:] = self._jacr[:, :7]

    # --- commands -----------------------------------------------------------------------------
    def command(self, target: CartesianTarget) -> CartesianTarget:
        self._require()
        state = self.observe()
        self.safety.check_state(state)
        safe = self.safety.filter(target, state)
        self._set_target(safe)
        return safe

    def _set_target(self, target: CartesianTarget) -> None:
        self._target[:3] = target.position
        self._target[3:] = target.quat

    def gripper(self, command: GripperCommand) -> None:
        self._require()
        self._gripper_width = self.safety.filter_gripper(command).width

    def advance(self, seconds: float) -> None:
        """Step physics for `seconds` at 1 kHz with the impedance law in the loop."""
        m, d = self._require()
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance() needs a finite non-negative duration, got {seconds}")
        remaining = round(seconds / m.opt.timestep)
        half = 0.5 * self._gripper_width
        d.ctrl[7] = half
        d.ctrl[8] = -half
        safety = self.safety
        while remaining > 0:
            if safety.watchdog_expired(d.time):
                self._set_target(safety.watchdog(self.observe(), self._target_as_command()))
            # Run up to the tick at which the watchdog would expire, then check it again.
            ticks = min(remaining, self._ticks_until_watchdog())
            done = run_ticks(
                self._model_address, self._data_address, ticks, *self._tick_buffers,
                self._tcp, self._target, self._params, self._joint_limits,
            )  # fmt: skip
            self._state_cache = None  # physics moved on: observe() below must not reuse it
            if done < 0:
                # Never apply a NaN torque: that tick braked; latch the e-stop and hold.
                self.safety.estop("non-finite torque from the control law")
                self._set_target(self.safety.hold_target(self.observe()))
                done = -done
            remaining -= done

    def _ticks_until_watchdog(self) -> int:
        last = self.safety.last_command_time
        if last is None or self.safety.holding:
            return 1 << 30
        deadline = last + self.limits.safety.watchdog_timeout
        dt = self.model.opt.timestep
        # Stop at the deadline tick itself: float noise in d.time can make it the first tick
        # where watchdog_expired() is true, and a per-tick check would catch it there.
        return max(1, math.floor((deadline - self.data.time) / dt + 1e-9))

    def _target_as_command(self) -> CartesianTarget:
        return CartesianTarget(self._target[:3].copy(), self._target[3:].copy())

    # --- reset and recovery -------------------------------------------------------------------
    def reset(self, joint_positions: Any = None) -> RobotState:
        m, d = self._require()
        q0 = self.limits.arm.home_joint_positions if joint_positions is None else joint_positions
        q0 = np.asarray(q0, dtype=np.float64)
        if q0.shape != (7,) or not np.all(np.isfinite(q0)):
            raise UnsafeCommandError(f"reset joint positions must be 7 finite numbers, got {q0}")
        arm = self.limits.arm
        if np.any(q0 < arm.joint_lower) or np.any(q0 > arm.joint_upper):
            raise UnsafeCommandError(f"reset joint positions {q0} are outside the joint limits")
        self._state_cache = None
        mujoco.mj_resetData(m, d)
        d.qpos[:7] = q0
        self._gripper_width = self.limits.gripper.max_width
        d.qpos[self._finger_qpos[0]] = 0.5 * self._gripper_width
        d.qpos[self._finger_qpos[1]] = -0.5 * self._gripper_width
        mujoco.mj_forward(m, d)
        self.safety.reset_estop()
        state = self.observe()
        self._set_target(self.safety.hold_target(state))
        return state

    def set_finger_width(self, width: float) -> None:
        """Teleport the fingers to `width` and command it (sim-only, for task resets)."""
        m, d = self._require()
        width = self.safety.filter_gripper(GripperCommand(width=width)).width
        d.qpos[self._finger_qpos[0]] = 0.5 * width
        d.qpos[self._finger_qpos[1]] = -0.5 * width
        self._gripper_width = width
        self._state_cache = None
        mujoco.mj_forward(m, d)

    def hold(self) -> None:
        """Track the current pose (used after tasks move objects at reset)."""
        self._set_target(self.safety.hold_target(self.observe()))

    def recover(self) -> None:
        self._require()
        self.safety.reset_estop()
        self.hold()

    # --- rendering ----------------------------------------------------------------------------
    def render(self, camera: str = "front", size: tuple[int, int] | None = None) -> np.ndarray:
        """An RGB uint8 image (H, W, 3) from a named camera; rendering happens only when asked.

        `size` is (height, width), default `config.image_size`. Offscreen rendering on a CPU
        needs MUJOCO_GL=osmesa (the Makefile sets it).
        """
        m, d = self._require()
        if camera not in CAMERAS:
            raise ValueError(f"unknown camera {camera!r}; known: {', '.join(sorted(CAMERAS))}")
        height, width = size or self.config.image_size
        renderer = self._renderers.get((height, width))
        if renderer is None:
            if m.vis.global_.offheight < height or m.vis.global_.offwidth < width:
                m.vis.global_.offheight = max(height, m.vis.global_.offheight)
                m.vis.global_.offwidth = max(width, m.vis.global_.offwidth)
            renderer = mujoco.Renderer(m, height=height, width=width)
            self._renderers[(height, width)] = renderer
        renderer.update_scene(d, camera=CAMERAS[camera], scene_option=self._render_options)
        return renderer.render().copy()
