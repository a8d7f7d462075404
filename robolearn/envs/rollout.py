"""Run the scripted expert of a task in its env: success rates, episode lengths, videos."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from robolearn.envs import ENV_IDS
from robolearn.envs.robot_env import RobotEnv
from robolearn.sim.video import write_video

log = logging.getLogger(__name__)


@dataclass
class ExpertSummary:
    task: str
    episodes: int
    successes: int
    episode_lengths: list[int] = field(default_factory=list)
    video: Path | None = None

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "mean_episode_length": float(np.mean(self.episode_lengths))
            if self.episode_lengths
            else 0.0,
            "video": str(self.video) if self.video else None,
        }


def run_expert(
    task: str,
    episodes: int = 10,
    seed: int = 0,
    *,
    control_hz: float = 10.0,
    video: str | Path | None = None,
    video_episodes: int = 1,
    progress: bool = True,
) -> ExpertSummary:
    """Roll out the task's scripted expert for `episodes` seeded episodes (seed, seed+1, ...).

    With `video`, the first `video_episodes` episodes are rendered from the front camera.
    """
    if task not in ENV_IDS:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(sorted(ENV_IDS))}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = gym.make(
        ENV_IDS[task],
        control_hz=control_hz,
        render_mode="rgb_array" if video else None,
        render_size=(360, 480),
    )
    base: RobotEnv = env.unwrapped
    expert = base.task.make_expert()
    summary = ExpertSummary(task=task, episodes=episodes, successes=0)
    frames: list[np.ndarray] = []
    bar = tqdm(range(episodes), desc=f"{task} expert", unit="ep", disable=not progress)
    try:
        for episode in bar:
            record = video is not None and episode < video_episodes
            env.reset(seed=seed + episode)
            expert.reset()
            if record:
                frames.append(env.render())
            info: dict = {}
            steps = 0
            while True:
                action = expert.act(base.robot_state, base.objects())
                _, _, terminated, truncated, info = env.step(action)
                steps += 1
                if record:
                    frames.append(env.render())
                if terminated or truncated:
                    break
            if record and info.get("is_success"):
                frames.extend([frames[-1]] * int(control_hz // 2))  # linger on the success
            summary.successes += int(bool(info.get("is_success")))
            summary.episode_lengths.append(steps)
            bar.set_postfix(success=f"{summary.successes}/{episode + 1}")
    finally:
        env.close()
    if video is not None:
        summary.video = write_video(frames, video, fps=control_hz)
        log.info("wrote %s (%d frames)", summary.video, len(frames))
    return summary
