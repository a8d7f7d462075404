"""`scripted`: a task's scripted expert as a teleoperator, optionally made imperfect.

The expert sees privileged object state, so `read()` needs a `TeleopContext` with `state` and
`objects` (`TeleopContext.from_env(env)`; `InterventionWrapper` passes it). Imperfections, all
drawn from one seeded generator so a demo set can be regenerated exactly:

- `noise_std`: Gaussian noise on the six motion dimensions of every action;
- `drift_std`: a slowly varying bias on translation (a random walk that decays by
  `drift_decay` per step), like an operator whose hand wanders;
- `hesitation_prob`: the chance per step to pause for `hesitation_steps` steps (motion zero,
  gripper held), like an operator who stops to look.

Actions are clipped to [-1, 1] after the imperfections; the gripper is never perturbed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.data.schema import ActionSource
from robolearn.robot.limits import load_limits
from robolearn.sim.tasks import TASKS, Expert
from robolearn.teleop.base import (
    MOTION_DIM,
    TeleopCommand,
    TeleopConfig,
    TeleopContext,
    Teleoperator,
    TeleopError,
    check_unit_interval,
    register_teleoperator,
)


@dataclass(kw_only=True)
class ScriptedConfig(TeleopConfig):
    task: str = "pick_cube"  # whose expert acts: a name from robolearn.sim.tasks.TASKS
    limits_file: str | None = None  # cell limits the expert plans with; None: hardware/franka.yaml
    noise_std: float = 0.0  # Gaussian noise on motion, in action units
    drift_std: float = 0.0  # per-step std of the translation drift, in action units
    drift_decay: float = 0.95  # drift <- decay * drift + N(0, drift_std^2)
    hesitation_prob: float = 0.0  # chance per step to start a pause
    hesitation_steps: tuple[int, int] = (3, 8)  # pause length, inclusive range in steps
    seed: int | None = None  # None: fresh entropy

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(TASKS.names())}")
        for name in ("noise_std", "drift_std"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value}")
        check_unit_interval("drift_decay", self.drift_decay)
        check_unit_interval("hesitation_prob", self.hesitation_prob, upper_open=False)
        self.hesitation_steps = tuple(int(n) for n in self.hesitation_steps)
        low, high = self.hesitation_steps if len(self.hesitation_steps) == 2 else (0, -1)
        if not 1 <= low <= high:
            raise ValueError(
                f"hesitation_steps must be (min, max) with 1 <= min <= max, got"
                f" {self.hesitation_steps}"
            )


@register_teleoperator("scripted", ScriptedConfig)
class ScriptedTeleop(Teleoperator):
    """The expert of `config.task`; always engaged, recorded as `ActionSource.SCRIPTED`.

    `expert` replaces the one built from the config (e.g. `env.unwrapped.task.make_expert()`).
    """

    source = ActionSource.SCRIPTED
    needs_objects = True

    def __init__(
        self, config: ScriptedConfig | None = None, *, expert: Expert | None = None
    ) -> None:
        self.config = config or ScriptedConfig()
        self._given_expert = expert
        self.expert: Expert | None = None
        self._rng = np.random.default_rng(self.config.seed)
        self._drift = np.zeros(3)
        self._pause_left = 0

    @property
    def is_connected(self) -> bool:
        return self.expert is not None

    def connect(self) -> None:
        if self.expert is not None:
            return
        if self._given_expert is not None:
            self.expert = self._given_expert
        else:
            limits = load_limits(self.config.limits_file)
            self.expert = TASKS.get(self.config.task)(limits).make_expert()
        self.reset()

    def close(self) -> None:
        self.expert = None

    def reset(self) -> None:
        if self.expert is not None:
            self.expert.reset()
        self._drift = np.zeros(3)
        self._pause_left = 0

    def read(self, context: TeleopContext | None = None) -> TeleopCommand:
        if self.expert is None:
            raise TeleopError("scripted teleoperator is not connected: call connect() first")
        if context is None or context.state is None or context.objects is None:
            raise TeleopError(
                "the scripted expert needs the robot state and the task's objects: pass"
                " TeleopContext.from_env(env) (InterventionWrapper does)"
            )
        action = np.array(self.expert.act(context.state, dict(context.objects)), dtype=np.float64)
        return TeleopCommand(self._perturb(action), engaged=True, source=self.source)

    def _perturb(self, action: np.ndarray) -> np.ndarray:
        """The expert's action with this step's imperfections (unchanged for a perfect expert).

        The draws happen in a fixed order whatever the settings, so changing one knob does not
        reshuffle the randomness of the others.
        """
        cfg = self.config
        noise = self._rng.normal(0.0, 1.0, MOTION_DIM) * cfg.noise_std
        self._drift = cfg.drift_decay * self._drift + self._rng.normal(0.0, 1.0, 3) * cfg.drift_std
        start_pause = self._rng.random() < cfg.hesitation_prob
        pause_len = int(self._rng.integers(cfg.hesitation_steps[0], cfg.hesitation_steps[1] + 1))
        if self._pause_left == 0 and start_pause:
            self._pause_left = pause_len
        out = action.copy()
        if self._pause_left > 0:
            self._pause_left -= 1
            out[:MOTION_DIM] = 0.0  # hold still; the gripper keeps the expert's command
        else:
            out[:MOTION_DIM] += noise
            out[:3] += self._drift
        return np.clip(out, -1.0, 1.0)
