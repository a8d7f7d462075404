"""Gymnasium environments; importing this package registers the `robolearn/...-v0` ids."""

import gymnasium as gym

from robolearn.envs.robot_env import RobotEnv, hardware_identity, make_twin_env

ENV_IDS = {
    "reach": "robolearn/PandaReach-v0",
    "pick_cube": "robolearn/PandaPickCube-v0",
    "peg_insert": "robolearn/PandaPegInsert-v0",
}

for _task, _env_id in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(
            id=_env_id,
            entry_point="robolearn.envs.robot_env:make_twin_env",
            kwargs={"task": _task},
            disable_env_checker=True,
        )

__all__ = ["ENV_IDS", "RobotEnv", "hardware_identity", "make_twin_env"]
