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
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (i, ep, meta) in enumerate(zip(chosen, data, metas, strict=True)):
        color = colors[n % len(colors)]
        t = np.arange(len(ep["action"])) / meta.control_hz
        label = f"ep {i} ({'success' if meta.success else 'failure'})"
        for k, d in enumerate(dims):
            axes[0].plot(t, ep["obs.state"][:, d], styles[k % 4], color=color,
                         label=label if k == 0 else None)  # fmt: skip
        for k in range(3):
            axes[1].plot(t, ep["action"][:, k], styles[k % 4], color=color, alpha=0.8)
        axes[2].plot(t, ep["action"][:, 6], color=color)
    dim_names = ", ".join(f"{styles[k % 4]} state[{d}]" for k, d in enumerate(dims))
    axes[0].set_ylabel(f"state ({dim_names})", fontsize=8)
    axes[0].set_title(f"{Path(path).name}: episodes {chosen}")
    axes[0].legend(fontsize=7)
    axes[1].set_ylabel("action x - / y -- / z :", fontsize=8)
    axes[2].set_ylabel("gripper (+1 closed)", fontsize=8)
    axes[2].set_xlabel("time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
