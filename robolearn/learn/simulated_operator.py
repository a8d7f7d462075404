"""A stand-in for the human who watches a HIL-SERL run and takes over now and then.

In HIL-SERL (Luo et al. 2024, https://arxiv.org/abs/2410.21845) an operator watches the policy
and, when it is stuck or about to fail, takes the device, steers for a while and lets go; the
steers become demonstrations. Training in the twin without a person needs someone to play that
part. `SimulatedOperator` wraps another teleoperator (usually the task's scripted expert,
`robolearn.teleop.scripted`) and gives it control on a schedule a person might follow:

- in a watched episode the policy acts for ``patience`` steps; then the operator steers for
  ``takeover_steps`` steps and hands back, and so on until the episode ends;
- each episode is watched with probability ``watch_prob`` (seeded);
- after ``max_episodes`` episodes it stops intervening (None: never stops), like an operator who
  steps away once the policy works.

The inner teleoperator is reset at every takeover (an expert replans from the current state).
Use it under `robolearn.teleop.intervention.InterventionWrapper`, which records who acted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.teleop.base import (
    TeleopCommand,
    TeleopConfig,
    TeleopContext,
    Teleoperator,
    check_unit_interval,
)


@dataclass(kw_only=True)
class SimulatedOperatorConfig(TeleopConfig):
    patience: int = 30  # policy steps before a takeover
    takeover_steps: int = 20  # steps the operator steers before handing back
    watch_prob: float = 1.0  # chance that an episode is watched at all
    max_episodes: int | None = None  # no interventions after this many episodes
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.patience < 0 or self.takeover_steps < 1:
            raise ValueError(
                f"patience must be >= 0 and takeover_steps >= 1, got {self.patience} and "
                f"{self.takeover_steps}"
            )
        check_unit_interval("watch_prob", self.watch_prob, upper_open=False)
        if self.max_episodes is not None and self.max_episodes < 0:
            raise ValueError(f"max_episodes must be >= 0 or None, got {self.max_episodes}")


class SimulatedOperator(Teleoperator):
    """Give ``inner`` the controls on `SimulatedOperatorConfig`'s schedule; hands-off (None)
    otherwise. The recorded action source is the inner teleoperator's."""

    def __init__(self, inner: Teleoperator, config: SimulatedOperatorConfig | None = None) -> None:
        self.inner = inner
        self.config = config or SimulatedOperatorConfig()
        self.source = inner.source
        self.needs_objects = inner.needs_objects
        self._rng = np.random.default_rng(self.config.seed)
        self.episodes = 0  # episodes started
        self._step = 0
        self._watching = False

    @property
    def is_connected(self) -> bool:
        return self.inner.is_connected

    def connect(self) -> None:
        self.inner.connect()

    def close(self) -> None:
        self.inner.close()

    def reset(self) -> None:
        cfg = self.config
        self.episodes += 1
        self._step = 0
        watched = self._rng.random() < cfg.watch_prob  # drawn every episode: a fixed sequence
        in_budget = cfg.max_episodes is None or self.episodes <= cfg.max_episodes
        self._watching = bool(watched and in_budget)
        self.inner.reset()

    def read(self, context: TeleopContext | None = None) -> TeleopCommand | None:
        cfg = self.config
        phase = self._step % (cfg.patience + cfg.takeover_steps)
        self._step += 1
        if not self._watching or phase < cfg.patience:
            return None
        if phase == cfg.patience:
            self.inner.reset()  # a takeover starts: plan from here
        command = self.inner.read(context)
        if command is None:
            return None
        return TeleopCommand(command.action, engaged=True, source=command.source)
