"""What a training run reports while it runs: TensorBoard scalars, a progress bar, and a
learning-curve PNG.

    log = TrainingLog("runs/x", total_steps=30_000, progress=True)
    log.episode(step, episode_return=1.0, success=True, length=40, intervention_rate=0.1)
    log.train_metrics(step, {"critic_loss": ..., "q": ..., "temperature": ..., "utd": ...})
    log.evaluation(step, success_rate=0.9, mean_return=0.9, mean_length=35.0)
    log.close()  # writes runs/x/learning_curve.png

TensorBoard tags (``tensorboard --logdir runs/x``): ``episode/{return,success,length,
intervention_rate}`` per training episode; ``train/<metric>`` every ``log_every`` steps (critic
and actor losses, ``q`` and ``target_q`` (ensemble means), ``temperature`` (SAC's alpha),
``entropy``, ``utd`` (critic steps per env step so far), ``intervention_rate`` (over the run));
``eval/{success_rate,return,length}`` per evaluation. ``state()`` and ``history=`` carry the
plotted history through a checkpoint, so a resumed run's PNG shows the whole run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CURVE_PNG = "learning_curve.png"
_ROLLING = 20  # training episodes averaged in the plotted success rate and return


class TrainingLog:
    """TensorBoard scalars, a tqdm progress bar and the learning-curve history of one run.

    ``log_dir`` None: no files (history and the bar only). ``initial_step`` > 0 (a resumed
    run) drops events logged after that step by an earlier, killed run (TensorBoard's
    ``purge_step``) and restores ``history`` from `state`.
    """

    def __init__(
        self,
        log_dir: str | Path | None,
        *,
        total_steps: int,
        initial_step: int = 0,
        progress: bool = False,
        log_every: int = 100,
        history: Mapping[str, Any] | None = None,
    ) -> None:
        from tqdm.auto import tqdm

        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.log_every = max(1, int(log_every))
        self.writer = None
        if self.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(
                str(self.log_dir), purge_step=initial_step if initial_step > 0 else None
            )
        history = history or {}
        # rows: (step, return, success, length, intervention_rate) / (step, success, return, len)
        self.episodes: list[list[float]] = [list(r) for r in history.get("episodes", [])]
        self.evals: list[list[float]] = [list(r) for r in history.get("evals", [])]
        self.bar = tqdm(
            total=total_steps,
            initial=initial_step,
            disable=not progress,
            unit="step",
            desc="train",
            dynamic_ncols=True,
        )
        self._postfix: dict[str, str] = {}
        self._train_step: int | None = None  # the step of the last train/* scalars

    # --- recording --------------------------------------------------------------------------
    def episode(
        self,
        step: int,
        *,
        episode_return: float,
        success: bool,
        length: int,
        intervention_rate: float | None = None,
    ) -> None:
        rate = float(intervention_rate) if intervention_rate is not None else math.nan
        self.episodes.append([step, float(episode_return), float(success), float(length), rate])
        values = {"return": episode_return, "success": float(success), "length": float(length)}
        if intervention_rate is not None:
            values["intervention_rate"] = rate
        self._scalars("episode", step, values)
        recent = self.episodes[-_ROLLING:]
        self._postfix["success"] = f"{np.mean([r[2] for r in recent]):.2f}"
        self._postfix["return"] = f"{np.mean([r[1] for r in recent]):.2f}"

    def train_metrics(
        self, step: int, metrics: Mapping[str, float], *, force: bool = False
    ) -> None:
        """Learner metrics as ``train/<name>``, every ``log_every`` steps (or when forced)."""
        if not metrics or (step % self.log_every and not force) or step == self._train_step:
            return
        self._train_step = step
        self._scalars("train", step, metrics)
        if "temperature" in metrics:
            self._postfix["alpha"] = f"{metrics['temperature']:.3g}"
        if "q" in metrics:
            self._postfix["q"] = f"{metrics['q']:.2f}"

    def evaluation(
        self, step: int, *, success_rate: float, mean_return: float, mean_length: float
    ) -> None:
        self.evals.append([step, float(success_rate), float(mean_return), float(mean_length)])
        values = {"return": mean_return, "length": mean_length}
        if not math.isnan(success_rate):
            values["success_rate"] = success_rate
        self._scalars("eval", step, values)
        self._postfix["eval"] = f"{success_rate:.2f}"
        if self.writer is not None:
            self.writer.flush()

    def advance(self, steps: int = 1) -> None:
        """Move the progress bar (its postfix shows recent success, return, alpha, Q)."""
        self.bar.update(steps)
        if self._postfix and self.bar.n % self.log_every == 0:
            self.bar.set_postfix(self._postfix, refresh=False)

    def _scalars(self, prefix: str, step: int, values: Mapping[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            value = float(value)
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    # --- output -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The plotted history, JSON-ready (for a checkpoint; ``history=`` restores it)."""
        return {"episodes": self.episodes, "evals": self.evals}

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def plot(self, path: str | Path | None = None) -> Path | None:
        """Write the learning curve (success rate and return against env steps: evaluations and
        a rolling mean over training episodes). Default path: ``<log_dir>/learning_curve.png``;
        None without a log_dir and path."""
        if path is None:
            if self.log_dir is None:
                return None
            path = self.log_dir / CURVE_PNG
        return plot_learning_curve(self.episodes, self.evals, path)

    def close(self, *, plot: bool = True) -> Path | None:
        """Flush and close; write the learning-curve PNG (returns its path)."""
        self.bar.close()
        png = self.plot() if plot else None
        if self.writer is not None:
            self.writer.close()
        return png


def plot_learning_curve(
    episodes: list[list[float]], evals: list[list[float]], path: str | Path
) -> Path:
    """Two panels against env steps: success rate and return, each the evaluations (markers)
    and a rolling mean of the last training episodes (line). Written atomically."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, renders with Agg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    if episodes:
        ep = np.asarray(episodes, dtype=np.float64)
        label = f"training (mean of the last {_ROLLING} episodes)"
        top.plot(ep[:, 0], _rolling(ep[:, 2], _ROLLING), label=label)
        bottom.plot(ep[:, 0], _rolling(ep[:, 1], _ROLLING), label=label)
    if evals:
        ev = np.asarray(evals, dtype=np.float64)
        if not np.all(np.isnan(ev[:, 1])):
            top.plot(ev[:, 0], ev[:, 1], "o-", label="evaluation (deterministic policy)")
        bottom.plot(ev[:, 0], ev[:, 2], "o-", label="evaluation")
    top.set_ylabel("success rate")
    top.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("episode return")
    bottom.set_xlabel("environment steps")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)
    return path


def _rolling(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the last ``window`` values at each point (fewer at the start)."""
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(0, idx - window)
    return (cumsum[idx] - cumsum[start]) / (idx - start)
