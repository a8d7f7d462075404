"""The deployment gate in the SERL actor node: on the franka backend, streamed weights whose
certified Lipschitz bound exceeds the configured limit are refused (the actor keeps what it
had); on the twin they are used, and the bound is reported either way."""

from __future__ import annotations

import pytest
import rclpy

from robolearn.learn.codec import WeightSnapshot, encode_weights
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig
from robolearn.ros.actor_node import SerlActorNode
from robolearn.ros.serl_wire import bytes_msg


def _weights_msg(version: int):
    from robolearn.learn.config import EnvConfig

    env = EnvConfig(task="reach").make()  # the actor node's env: the same default config
    config = RLPDConfig(hidden_dims=(16, 16), num_critics=2, seed=0)
    agent = RLPDAgent(env.observation_space, env.action_space, config)
    env.close()
    snapshot = WeightSnapshot(agent.policy_state_dict(), version, "run-a", config.to_dict())
    return bytes_msg(encode_weights(snapshot))


@pytest.mark.parametrize(
    ("backend", "limit", "accepted"),
    [("franka", 1e-3, False), ("franka", 1e9, True), ("twin", 1e-3, True)],
)
def test_gate_on_streamed_weights(tmp_path, backend, limit, accepted):
    config = tmp_path / "run.yaml"
    config.write_text(f"certification:\n  required: true\n  max_lipschitz: {limit}\n")
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = SerlActorNode(
            context=context,
            **{"env.task": "reach", "node.backend": backend, "node.certification": str(config)},
        )
        node._on_weights(_weights_msg(3))
        assert node.rejected_weights == (0 if accepted else 1)
        assert node.actor.weights_version == (3 if accepted else -1)
        if accepted:
            assert node.certified_lipschitz is not None and node.certified_lipschitz > 0
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
