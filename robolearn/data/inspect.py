"""Look at a dataset: per-episode videos and state/action plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.data.schema import IMAGE_PREFIX
from robolearn.data.store import EpisodeStore
from robolearn.sim.video import write_video


def episode_video(
    path: str | Path,
    episode: int,
    out: str | Path,
    cameras: list[str] | None = None,
    fps: float | None = None,
    scale: int = 2,
) -> Path:
    """Write an episode's camera frames (cameras side by side) to a video file."""
    with EpisodeStore.open(path) as store:
        image_keys = [k for k in store.keys if k.startswith(IMAGE_PREFIX)]
        if cameras:
            wanted = [IMAGE_PREFIX + c for c in cameras]
            missing = sorted(set(wanted) - set(image_keys))
            if missing:
                raise KeyError(f"{path}: no camera key(s) {missing}; has {image_keys}")
            image_keys = wanted
        if not image_keys:
            raise KeyError(f"{path}: the dataset has no camera images")
        data = store.episode(episode, keys=image_keys)
        meta = store.episode_meta(episode)
    frames = np.concatenate([data[k] for k in image_keys], axis=2)  # side by side
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    return write_video(list(frames), out, fps=fps or meta.control_hz)


def plot_episodes(
    path: str | Path,
    out: str | Path,
    episodes: list[int] | None = None,
    state_dims: list[int] | None = None,
) -> Path:
    """State and action traces over time for some episodes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with EpisodeStore.open(path) as store:
        chosen = episodes if episodes is not None else list(range(min(store.n_episodes, 5)))
        data = [store.episode(i, keys=["obs.state", "action"]) for i in chosen]
        metas = [store.episode_meta(i) for i in chosen]
    dims = state_dims if state_dims is not None else [0, 1, 2]  # TCP position by default
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for i, ep, meta in zip(chosen, data, metas, strict=True):
        t = np.arange(len(ep["action"])) / meta.control_hz
        for d in dims:
            axes[0].plot(t, ep["obs.state"][:, d], label=f"ep {i} state[{d}]")
        for d in range(ep["action"].shape[1]):
            axes[1].plot(
                t, ep["action"][:, d], alpha=0.7, label=f"ep {i} a[{d}]" if i == chosen[0] else None
            )
    axes[0].set_ylabel("state")
    axes[0].set_title(f"{Path(path).name}: episodes {chosen}")
    axes[0].legend(fontsize=7, ncol=3)
    axes[1].set_ylabel("action")
    axes[1].set_xlabel("time (s)")
    axes[1].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
