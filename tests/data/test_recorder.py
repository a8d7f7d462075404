"""Recording on the twin: hands-free scripted demos and operator controls from a device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from robolearn.data.recorder import record
from robolearn.data.schema import ActionSource
from robolearn.data.store import EpisodeStore
from robolearn.teleop.base import TeleopCommand, TeleopConfig, Teleoperator, TeleopEvent


def test_scripted_recording_commits_complete_successful_episodes(tmp_path: Path) -> None:
    out = tmp_path / "pick"
    summary = record("pick_cube", out, episodes=3, cameras=("front",), progress=False)
    assert summary.committed == 3 and summary.successes == 3
    with EpisodeStore.open(out) as store:
        assert store.n_episodes == 3 and store.validate() == []
        for i in range(3):
            ep = store.episode(i)
            meta = store.episode_meta(i)
            assert meta.seed == i and meta.success and meta.operator == "scripted"
            assert np.all(ep["action_source"] == ActionSource.SCRIPTED)
            assert ep["terminated"][-1] and ep["reward"][-1] == 1.0
            assert ep["obs.images.front"].shape[1:] == (128, 128, 3)
    # Appending to the same dataset continues it.
    record("pick_cube", out, episodes=1, cameras=("front",), seed=10, progress=False)
    with EpisodeStore.open(out) as store:
        assert store.n_episodes == 4 and store.episode_meta(3).seed == 10


@dataclass(kw_only=True)
class ReplayConfig(TeleopConfig):
    script: tuple = ()


class ReplayOperator(Teleoperator):
    """A 'human' whose presses and motions are a fixed script (one entry per read)."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self._script = list(config.script)
        self._open = False

    def connect(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_connected(self) -> bool:
        return self._open

    def read(self, context=None):  # noqa: ANN001, ANN201
        entry = self._script.pop(0) if self._script else ("move",)
        if entry[0] == "idle":
            return None
        if entry[0] == "event":
            return TeleopCommand(np.zeros(7), engaged=False, events={entry[1]})
        action = np.array([0.0, 0.5, 0.0, 0.0, 0.0, 0.0, -1.0])
        return TeleopCommand(action, engaged=True)


def test_operator_controls_start_mark_discard_rerecord_quit(tmp_path: Path) -> None:
    move, idle = ("move",), ("idle",)
    start = ("event", TeleopEvent.START_STOP)
    script = (
        [idle, idle, start] + [move] * 4 + [idle] * 2 + [("event", TeleopEvent.SUCCESS)]
        + [start] + [move] * 3 + [("event", TeleopEvent.DISCARD)]
        + [start] + [move] * 2 + [("event", TeleopEvent.RERECORD)]
        + [start] + [move] * 5 + [("event", TeleopEvent.FAILURE)]
        + [("event", TeleopEvent.QUIT)]
    )  # fmt: skip
    out = tmp_path / "manual"
    summary = record(
        "reach", out, teleop=ReplayOperator(ReplayConfig(script=tuple(script))), episodes=10,
        cameras=(), progress=False, operator="bob",
    )  # fmt: skip
    assert summary.committed == 2 and summary.successes == 1 and summary.discarded == 2
    with EpisodeStore.open(out) as store:
        assert store.n_episodes == 2
        first, second = store.episode(0), store.episode(1)
        assert len(first["action"]) == 6 and len(second["action"]) == 5
        # Engaged steps are the operator's; hands-off steps hold still, recorded as human too.
        assert np.all(first["action_source"] == ActionSource.HUMAN)
        np.testing.assert_allclose(first["action"][4:, :6], 0.0)
        np.testing.assert_allclose(first["action"][:4, 1], 0.5)
        assert [store.episode_meta(i).success for i in range(2)] == [True, False]
        assert store.episode_meta(0).operator == "bob"
        # Discard advanced the seed, rerecord reused it.
        assert [store.episode_meta(i).seed for i in range(2)] == [0, 2]


def test_unknown_task_and_teleop_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown task"):
        record("juggle", tmp_path / "x", episodes=1, progress=False)
    with pytest.raises(KeyError, match="unknown teleoperator"):
        record("reach", tmp_path / "y", teleop="theremin", episodes=1, progress=False)
