"""SimulatedOperator: the takeover schedule, watched episodes and the episode budget."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.data.schema import ActionSource
from robolearn.learn.simulated_operator import SimulatedOperator, SimulatedOperatorConfig
from robolearn.teleop.base import TeleopCommand, TeleopContext, Teleoperator


class _Counter(Teleoperator):
    """Always engaged; its action's first component counts reads since its last reset."""

    source = ActionSource.SCRIPTED

    def __init__(self) -> None:
        self.connected, self.resets, self.reads = False, 0, 0

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    @property
    def is_connected(self) -> bool:
        return self.connected

    def reset(self) -> None:
        self.resets += 1
        self.reads = 0

    def read(self, context: TeleopContext | None = None) -> TeleopCommand:
        self.reads += 1
        return TeleopCommand(np.full(7, self.reads / 100), engaged=False, source=self.source)


def _episode(operator: SimulatedOperator, steps: int) -> list[TeleopCommand | None]:
    operator.reset()
    return [operator.read(TeleopContext()) for _ in range(steps)]


def test_takeovers_alternate_with_policy_steps():
    inner = _Counter()
    operator = SimulatedOperator(inner, SimulatedOperatorConfig(patience=3, takeover_steps=2))
    commands = _episode(operator, 12)
    engaged = [c is not None for c in commands]
    assert engaged == [False, False, False, True, True] * 2 + [False, False]
    assert all(c.engaged and c.source == ActionSource.SCRIPTED for c in commands if c)
    # the inner expert replans at each takeover: its read counter restarts
    assert [round(c.action[0] * 100) for c in commands if c] == [1, 2, 1, 2]


def test_watch_probability_and_episode_budget():
    operator = SimulatedOperator(
        _Counter(), SimulatedOperatorConfig(patience=0, takeover_steps=5, watch_prob=0.5, seed=1)
    )
    watched = [any(_episode(operator, 3)) for _ in range(200)]
    assert 0.4 < np.mean(watched) < 0.6
    budget = SimulatedOperator(_Counter(), SimulatedOperatorConfig(patience=0, max_episodes=3))
    assert [any(_episode(budget, 2)) for _ in range(5)] == [True] * 3 + [False] * 2


def test_config_errors():
    with pytest.raises(ValueError, match="takeover_steps"):
        SimulatedOperatorConfig(takeover_steps=0)
    with pytest.raises(ValueError, match="watch_prob"):
        SimulatedOperatorConfig(watch_prob=1.5)
