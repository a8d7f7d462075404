"""The deployment gate in the SERL actor node, decided by the robot behind the env (its
`hardware_id`: a ROS bridge's latched backend), never by a parameter of the actor's own: on
hardware, streamed weights whose certified Lipschitz bound exceeds the limit are refused (the
actor keeps what it had), nothing moves before certified weights arrive and the policy acts
with its mean; on the twin weights are used, and the bound is reported either way."""

from __future__ import annotations

import contextlib
from typing import Any

import gymnasium as gym
import pytest
import rclpy

from robolearn.learn.codec import WeightSnapshot, encode_weights
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig
from robolearn.ros.actor_node import SerlActorNode
from robolearn.ros.serl_wire import bytes_msg


class OnFranka(gym.Wrapper):
    """The reach twin as a bridge to a real arm reports itself (RosRobotEnv.hardware_id)."""

    hardware_id = "franka"


def franka_reach(**kwargs: Any) -> gym.Env:
    from robolearn.learn.config import EnvConfig

    return OnFranka(EnvConfig(task="reach", **kwargs).make())


FRANKA_ENV = {"env.id": "tests.ros.test_actor_gate:franka_reach"}
TWIN_ENV = {"env.task": "reach"}


def _weights_msg(version: int, scale: float = 1.0):
    """A policy snapshot; ``scale`` multiplies every weight matrix (the bound by scale^layers)."""
    from robolearn.learn.config import EnvConfig

    env = EnvConfig(task="reach").make()  # the actor node's env: the same default config
    config = RLPDConfig(hidden_dims=(16, 16), num_critics=2, seed=0)
    agent = RLPDAgent(env.observation_space, env.action_space, config)
    env.close()
    tensors = {
        k: v * scale if k.endswith("weight") and v.ndim == 2 else v
        for k, v in agent.policy_state_dict().items()
    }
    snapshot = WeightSnapshot(tensors, version, "run-a", config.to_dict())
    return bytes_msg(encode_weights(snapshot))


@contextlib.contextmanager
def _actor(tmp_path, env: dict[str, str], limit: float | None = None, **node: Any):
    """A `SerlActorNode` on ``env`` (``limit``: a certification file's max_lipschitz; ``node``:
    node.* settings), destroyed with its context afterwards."""
    overrides: dict[str, Any] = dict(env)
    if limit is not None:
        config = tmp_path / "run.yaml"
        config.write_text(f"certification:\n  required: true\n  max_lipschitz: {limit}\n")
        overrides["node.certification"] = str(config)
    overrides.update({f"node.{k}": v for k, v in node.items()})
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        actor = SerlActorNode(context=context, **overrides)
        try:
            yield actor
        finally:
            actor.destroy_node()
    finally:
        rclpy.shutdown(context=context)


@pytest.mark.parametrize(
    ("env", "limit", "accepted"),
    [(FRANKA_ENV, 1e-3, False), (FRANKA_ENV, 1e9, True), (TWIN_ENV, 1e-3, True)],
)
def test_gate_on_streamed_weights(tmp_path, env, limit, accepted):
    with _actor(tmp_path, env, limit) as node:
        assert node.on_hardware == (env is FRANKA_ENV)
        node._on_weights(_weights_msg(3))
        assert node.rejected_weights == (0 if accepted else 1)
        assert node.actor.weights_version == (3 if accepted else -1)
        if accepted:
            assert node.certified_lipschitz is not None and node.certified_lipschitz > 0


def test_gate_is_on_by_default_on_hardware(tmp_path):
    """No certification file: a default limit applies on hardware (it was 'any bound')."""
    with _actor(tmp_path, FRANKA_ENV) as node:
        limit = node.certification.max_lipschitz
        assert node.certification.required and limit is not None
        node._on_weights(_weights_msg(1, scale=0.1))  # a gentle policy passes
        assert node.rejected_weights == 0 and node.certified_lipschitz < limit
        node._on_weights(_weights_msg(2, scale=100.0))  # a steep one does not
        assert node.rejected_weights == 1 and node.actor.weights_version == 1


def test_nothing_moves_on_hardware_before_certified_weights(tmp_path):
    with _actor(tmp_path, FRANKA_ENV, limit=1e9) as node:
        for _ in range(5):
            node._tick()
        assert node.actor.env_steps == 0 and node.actor.waiting_for_weights
        node._on_weights(_weights_msg(2))
        node._tick()
        assert node.actor.env_steps == 1
        assert node.actor.deterministic  # the policy's mean: no exploration noise on hardware


def test_random_warm_up_on_hardware_needs_explicit_consent(tmp_path):
    with pytest.raises(ValueError, match="explore_on_hardware"):
        with _actor(tmp_path, FRANKA_ENV, limit=1e9, random_steps=100):
            pass
    with _actor(tmp_path, FRANKA_ENV, limit=1e9, random_steps=100, explore_on_hardware=True) as n:
        n._tick()
        assert n.actor.env_steps == 1 and not n.actor.deterministic


def test_the_twin_acts_randomly_before_weights(tmp_path):
    with _actor(tmp_path, TWIN_ENV) as node:
        node._tick()
        assert node.actor.env_steps == 1 and node.actor.acting_randomly
