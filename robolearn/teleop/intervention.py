"""SERL / HIL-SERL human interventions as a gymnasium wrapper.

Each step the teleoperator is read before the action is applied. When its command is engaged
(the operator moved the device out of its deadband, or held a gripper control), the operator's
action replaces the policy's for that step; otherwise the policy's action runs. Who acted is
recorded per step, so a learner can treat intervention steps as demonstrations
(SERL, https://arxiv.org/abs/2401.16013; HIL-SERL, https://arxiv.org/abs/2410.21845).

Per step `info` gains:
- `intervened` (bool), `action_source` (int, an `ActionSource`), `executed_action` (float32 (7,),
  clipped to [-1, 1] as the env applies it);
- `teleop_events` (tuple of `TeleopEvent`): the operator's episode controls pressed this step;
- at the episode's end (terminated or truncated), `intervention_rate` (interventions per step over
  the episode) and `episode_interventions`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.data.schema import ActionSource
from robolearn.sim.tasks.base import ACTION_DIM
from robolearn.teleop.base import (
    MOTION_DIM,
    TeleopCommand,
    TeleopContext,
    Teleoperator,
    check_unit_interval,
)


class InterventionWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Let a teleoperator take over from the policy whenever its command is engaged.

    `deadband`: None trusts the device's own `engaged` flag (each device applies its configured
    deadband to the raw input). A number makes the wrapper stricter: an engaged command then
    counts only if some motion component exceeds `deadband` in magnitude or its gripper command
    differs in sign from the gripper executed at the previous step.

    The teleoperator is connected on the first `reset()` if it is not already, and then closed
    with the env; one connected by the caller stays the caller's to close.
    """

    def __init__(
        self, env: gym.Env, teleop: Teleoperator, *, deadband: float | None = None
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, teleop=teleop, deadband=deadband)
        gym.Wrapper.__init__(self, env)
        if deadband is not None:
            check_unit_interval("deadband", deadband)
        self.teleop = teleop
        self.deadband = deadband
        self._owns_teleop = False
        self._last_executed: np.ndarray | None = None
        self._episode_steps = 0
        self._episode_interventions = 0

    # --- counters -----------------------------------------------------------------------------
    @property
    def episode_steps(self) -> int:
        return self._episode_steps

    @property
    def episode_interventions(self) -> int:
        return self._episode_interventions

    @property
    def intervention_rate(self) -> float:
        """Fraction of this episode's steps so far on which the operator acted (0 before any)."""
        if self._episode_steps == 0:
            return 0.0
        return self._episode_interventions / self._episode_steps

    def hold_action(self) -> np.ndarray:
        """No motion with the gripper as last executed: a "policy" for pure teleoperation (in
        the env's action layout)."""
        action = np.zeros(ACTION_DIM, dtype=np.float32)
        if self._last_executed is not None:
            action[MOTION_DIM] = self._last_executed[MOTION_DIM]
        mode = getattr(self.env.unwrapped, "action_mode", None)
        return action if mode is None else mode.from_pose(action)

    # --- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if not self.teleop.is_connected:
            self.teleop.connect()
            self._owns_teleop = True
        obs, info = self.env.reset(seed=seed, options=options)
        self.teleop.reset()
        self._last_executed = None
        self._episode_steps = 0
        self._episode_interventions = 0
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        context = TeleopContext.from_env(
            self.env, objects=self.teleop.needs_objects, last_action=self._last_executed
        )
        command = self.teleop.read(context)
        intervened = self._is_intervention(command)
        # Operators command 7-D pose actions; an env whose policy controls fewer axes (an
        # action mode) takes the operator's command on its own axes.
        mode = getattr(self.env.unwrapped, "action_mode", None)
        if command is not None and intervened:
            executed: Any = command.action if mode is None else mode.from_pose(command.action)
            source = command.source
        else:
            executed = action
            source = ActionSource.POLICY
        obs, reward, terminated, truncated, info = self.env.step(executed)
        # The env validated the action; record it as applied (clipped), whoever produced it.
        executed_action = np.clip(np.asarray(executed, dtype=np.float32), -1.0, 1.0)
        # the operator's context and hold_action keep the 7-D pose layout
        self._last_executed = executed_action if mode is None else mode.embed(executed_action)
        self._episode_steps += 1
        self._episode_interventions += int(intervened)
        info = dict(info)
        info["intervened"] = intervened
        info["action_source"] = int(source)
        info["executed_action"] = executed_action.copy()
        events = command.events if command is not None else frozenset()
        info["teleop_events"] = tuple(sorted(events))
        if terminated or truncated:
            info["intervention_rate"] = self.intervention_rate
            info["episode_interventions"] = self._episode_interventions
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._owns_teleop:
                self.teleop.close()
                self._owns_teleop = False

    # --- helpers ------------------------------------------------------------------------------
    def _is_intervention(self, command: TeleopCommand | None) -> bool:
        if command is None or not command.engaged:
            return False
        if self.deadband is None:
            return True
        if float(np.max(np.abs(command.action[:MOTION_DIM]))) > self.deadband:
            return True
        if self._last_executed is None:
            return False  # first step: nothing executed yet to compare the gripper with
        # A gripper press: the operator's gripper disagrees with what runs now.
        return (command.action[MOTION_DIM] > 0) != (self._last_executed[MOTION_DIM] > 0)
