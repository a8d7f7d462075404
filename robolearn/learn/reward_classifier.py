"""A learned success detector as the reward: SERL's reward classifier.

SERL (Luo et al. 2024, https://arxiv.org/abs/2401.16013, its reward classifiers) trains a binary
classifier on camera images to say whether the task is solved, and gives the learner the
thresholded prediction as a sparse reward (and, optionally, as the episode's end), because a
real cell has no ``is_success`` predicate. This module trains one from an episode store
(`robolearn.data`), measures it on held-out episodes, saves it, and puts it into an env:

    report = train_reward_classifier("datasets/pick_cube", cameras=("front", "wrist"),
                                     epochs=20, holdout_fraction=0.2, threshold=0.5, seed=0,
                                     out="runs/classifier.safetensors")
    env = ClassifierReward(env, "runs/classifier.safetensors", terminate=True)

**Frames and labels.** A frame is the observation a step *led to* (``next_obs``: the next
step's observation, or the episode's stored final observation), so every frame of an episode has
a label; reset frames carry none and are not used. Two labellings (``label=``):

- ``"reward"`` (default): the frame is a success iff the stored per-step sparse reward of the
  step that led to it is 1 -- on the twin that is the task's own success predicate, frame by
  frame. Record with success termination off (``gym.make(..., terminate_on_success=False)``;
  ``robolearn record`` ends episodes at their first success) so episodes go on in the success
  state and give many positive frames; with it on, an episode has exactly one.
- ``"final"``: the last ``final_frames`` frames of every episode marked successful (episode
  metadata, e.g. the operator's SUCCESS key on the real arm, where no reward is recorded) are
  successes; every other frame is a failure.

**Training.** A `robolearn.learn.networks.ConvEncoder` per camera (optionally fused with state
keys; by default images only, as in SERL, since on the twin the state holds the object pose and
would make the problem trivial) and an MLP head, trained with class-balanced binary
cross-entropy and DrQ random shifts (`robolearn.learn.augment`) of the training frames.
Episodes, not frames, are split into training and held-out sets (stratified by episode
success), so frames of one episode never sit on both sides; the report gives held-out accuracy,
precision, recall and F1 at the threshold (``probability > threshold``).

**Files.** The weights go into a safetensors file whose metadata holds the config, the
observation shapes and the training report (JSON); no pickle. ``out`` also gets a
``<out>.json`` copy of the report and a ``<out>.png`` training curve.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robolearn.learn.augment import make_augmentation
from robolearn.learn.networks import ConvEncoder, flatten_obs, flatten_space, mlp

log = logging.getLogger(__name__)

FORMAT = "robolearn.reward_classifier"
FORMAT_VERSION = "1"
LABELS = ("reward", "final")


@dataclass(kw_only=True)
class RewardClassifierConfig:
    """What the classifier reads, its network, and how it is trained."""

    cameras: tuple[str, ...]  # camera names: dataset keys obs.images.<camera>
    state_keys: tuple[str, ...] = ()  # observation keys fused with the images, e.g. ("state",)
    encoder_options: dict[str, Any] = field(default_factory=dict)  # ConvEncoder options
    hidden_dims: tuple[int, ...] = (256,)
    threshold: float = 0.5  # success iff probability > threshold
    # training
    label: Literal["reward", "final"] = "reward"
    final_frames: int = 5  # label="final": successes per successful episode
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3  # Adam, cosine-decayed to 0 over the epochs
    holdout_fraction: float = 0.2  # of the episodes (per success class)
    augmentation: str = "drq"  # robolearn.learn.augment.AUGMENTATIONS
    seed: int = 0

    def __post_init__(self) -> None:
        self.cameras = tuple(str(c) for c in self.cameras)
        self.state_keys = tuple(str(k) for k in self.state_keys)
        self.hidden_dims = tuple(int(h) for h in self.hidden_dims)
        if not self.cameras:
            raise ValueError("the reward classifier needs at least one camera (cameras=...)")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r}")
        if self.final_frames < 1:
            raise ValueError(f"final_frames must be at least 1, got {self.final_frames}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1 and "
                f"lr ({self.lr}) positive"
            )
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("cameras", "state_keys", "hidden_dims"):
            out[key] = list(out[key])
        out["encoder_options"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.encoder_options.items()
        }
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RewardClassifierConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown RewardClassifierConfig field(s) {unknown}")
        return cls(**dict(raw))


def _observation_space(shapes: Mapping[str, Sequence[int]]) -> gym.spaces.Dict:
    """A nested Dict space from flat keys (``images.front``: uint8 image, others float32)."""
    tree: dict[str, Any] = {}
    for key, shape in shapes.items():
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = (
            gym.spaces.Box(0, 255, tuple(shape), np.uint8)
            if key.startswith("images.")
            else gym.spaces.Box(-np.inf, np.inf, tuple(shape), np.float32)
        )

    def to_space(node: dict[str, Any]) -> gym.spaces.Dict:
        return gym.spaces.Dict(
            {k: to_space(v) if isinstance(v, dict) else v for k, v in node.items()}
        )

    return to_space(tree)


class RewardClassifier(nn.Module):
    """``p(success | images[, state])``: conv encoders per camera, an MLP head, one logit.

    ``shapes`` maps the observation keys it reads (``images.<camera>``, state keys) to their
    per-frame shapes. Call it on a flat batch for logits; `probability` / `success` take env
    observations (nested dicts, one or a batch) as they come.
    """

    report: dict[str, Any]  # the training report (`load` restores it from the file)

    def __init__(self, shapes: Mapping[str, Sequence[int]], config: RewardClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.shapes = {k: tuple(int(s) for s in v) for k, v in shapes.items()}
        image_keys = [f"images.{c}" for c in config.cameras]
        missing = [k for k in [*image_keys, *config.state_keys] if k not in self.shapes]
        if missing:
            raise KeyError(f"no shape given for {missing}; shapes has {sorted(self.shapes)}")
        space = _observation_space(self.shapes)
        self.encoder = ConvEncoder(
            space,
            image_keys=image_keys,
            state_keys=list(config.state_keys),
            **config.encoder_options,
        )
        self.head = mlp(self.encoder.output_dim, config.hidden_dims, 1)
        self.keys = self.encoder.keys
        self.report = {}

    @property
    def threshold(self) -> float:
        return self.config.threshold

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        """Success logits, shape ``(batch,)``."""
        return self.head(self.encoder(obs)).squeeze(-1)

    @torch.inference_mode()
    def probability(self, obs: Any) -> np.ndarray | float:
        """Success probability of one observation (a float) or a batch (an array)."""
        flat = flatten_obs(obs)
        missing = [k for k in self.keys if k not in flat]
        if missing:
            raise KeyError(
                f"the observation has no key(s) {missing} the classifier reads; it has "
                f"{sorted(flat)} (turn the cameras {list(self.config.cameras)} on)"
            )
        first = self.keys[0]
        batched = np.ndim(flat[first]) == len(self.shapes[first]) + 1
        tensors = {}
        for key in self.keys:
            value = torch.as_tensor(np.asarray(flat[key]))
            if not batched:
                value = value.unsqueeze(0)
            if tuple(value.shape[1:]) != self.shapes[key]:
                raise ValueError(
                    f"observation {key!r} has shape {tuple(value.shape[1:])}, the classifier "
                    f"was trained on {self.shapes[key]}; use the same image size"
                )
            tensors[key] = value if key.startswith("images.") else value.float()
        was_training = self.training
        self.eval()
        probs = torch.sigmoid(self(tensors)).numpy()
        self.train(was_training)
        return probs if batched else float(probs[0])

    def success(self, obs: Any) -> np.ndarray | bool:
        """``probability > threshold`` for one observation (a bool) or a batch."""
        p = self.probability(obs)
        return p > self.threshold if isinstance(p, np.ndarray) else bool(p > self.threshold)

    # --- files ------------------------------------------------------------------------------
    def save(self, path: str | Path, report: Mapping[str, Any] | None = None) -> Path:
        """Weights as safetensors; config, shapes and the training report in its metadata."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": json.dumps(self.config.to_dict()),
            "shapes": json.dumps({k: list(v) for k, v in self.shapes.items()}),
            "report": json.dumps(dict(report or {})),
        }
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RewardClassifier:
        """A classifier saved by `save` (no pickle: safetensors and JSON only)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"reward classifier {path} does not exist")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception as err:  # safetensors raises its own error type for a bad header
            raise ValueError(f"{path} is not a reward classifier (no safetensors: {err})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{path} is not a reward classifier (format {meta.get('format')!r}); train one "
                "with `robolearn train classifier`"
            )
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: classifier format version {meta.get('format_version')!r}, this "
                f"robolearn reads {FORMAT_VERSION}"
            )
        config = RewardClassifierConfig.from_dict(json.loads(meta["config"]))
        model = cls(json.loads(meta["shapes"]), config)
        model.load_state_dict(load_file(str(path)))
        model.eval()
        model.report = json.loads(meta.get("report", "{}"))
        return model


# --- data ---------------------------------------------------------------------------------------
@dataclass
class LabelledFrames:
    """Frames of an episode store with success labels (see the module docstring)."""

    obs: dict[str, np.ndarray]  # flat key (images.front, state) -> (N, ...)
    labels: np.ndarray  # (N,) bool
    episode: np.ndarray  # (N,) int: the episode index of each frame
    episode_success: np.ndarray  # (episodes,) bool, from the episode metadata

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> LabelledFrames:
        return LabelledFrames(
            {k: v[mask] for k, v in self.obs.items()},
            self.labels[mask],
            self.episode[mask],
            self.episode_success,
        )


def labelled_frames(
    dataset: str | Path,
    *,
    cameras: Sequence[str],
    state_keys: Sequence[str] = (),
    label: str = "reward",
    final_frames: int = 5,
) -> LabelledFrames:
    """Read every labelled frame of ``dataset`` into memory (uint8 images)."""
    from robolearn.data.store import EpisodeStore

    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    keys = [f"images.{c}" for c in cameras] + list(state_keys)
    obs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    labels: list[np.ndarray] = []
    episode: list[np.ndarray] = []
    with EpisodeStore.open(dataset) as store:
        absent = [f"obs.{k}" for k in keys if f"obs.{k}" not in store.schema]
        if absent:
            have = sorted(k for k in store.schema if k.startswith("obs."))
            raise KeyError(f"{dataset} has no {absent}; it records {have}")
        if store.n_episodes == 0:
            raise ValueError(f"{dataset} has no episodes")
        success = np.array(
            [store.episode_meta(i).success for i in range(store.n_episodes)], dtype=bool
        )
        for i in range(store.n_episodes):
            steps = store.episode(i, keys=[*(f"obs.{k}" for k in keys), "reward"])
            n = len(steps["reward"])
            for key in keys:
                # frame t is the step's next observation: obs[t + 1], or the final one
                obs[key].append(
                    np.concatenate([steps[f"obs.{key}"][1:], steps[f"final.obs.{key}"][None]])
                )
            if label == "reward":
                reward = np.asarray(steps["reward"], np.float64)
                if not np.all(np.isin(reward, (0.0, 1.0))):
                    raise ValueError(
                        f"{dataset}, episode {i}: rewards are not 0/1 sparse rewards (e.g. "
                        f"{reward[~np.isin(reward, (0.0, 1.0))][0]:.3f}); use label='final' "
                        "(successes: the last frames of successful episodes)"
                    )
                labels.append(reward > 0.5)
            else:
                lab = np.zeros(n, bool)
                if success[i]:
                    lab[-final_frames:] = True
                labels.append(lab)
            episode.append(np.full(n, i))
    return LabelledFrames(
        {k: np.concatenate(v) for k, v in obs.items()},
        np.concatenate(labels),
        np.concatenate(episode),
        success,
    )


def split_episodes(
    episode_success: np.ndarray, holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) episode indices, held-out drawn per success class."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for cls in (True, False):
        members = rng.permutation(np.flatnonzero(episode_success == cls))
        k = int(round(holdout_fraction * len(members)))
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)  # both sides get one of each class if possible
        held += members[:k].tolist()
        train += members[k:].tolist()
    if not held or not train:
        raise ValueError(
            f"{len(episode_success)} episodes cannot be split into training and held-out sets "
            f"with holdout_fraction={holdout_fraction}; record more episodes"
        )
    return np.sort(train), np.sort(held)


# --- training -----------------------------------------------------------------------------------
def classification_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Accuracy, precision, recall, F1 of ``probs > threshold`` (None where undefined)."""
    pred = probs > threshold
    labels = labels.astype(bool)
    tp = int(np.sum(pred & labels))
    fp = int(np.sum(pred & ~labels))
    fn = int(np.sum(~pred & labels))
    tn = int(np.sum(~pred & ~labels))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    return {
        "accuracy": (tp + tn) / max(1, len(labels)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "true_negatives": tn,
    }


def _tensors(frames: LabelledFrames, index: np.ndarray) -> dict[str, Tensor]:
    return {
        k: torch.as_tensor(v[index])
        if k.startswith("images.")
        else torch.as_tensor(v[index]).float()
        for k, v in frames.obs.items()
    }


@torch.no_grad()
def predict(model: RewardClassifier, frames: LabelledFrames, batch_size: int = 256) -> np.ndarray:
    """Success probabilities of every frame (evaluation mode, no augmentation)."""
    model.eval()
    out = [
        torch.sigmoid(model(_tensors(frames, np.arange(i, min(i + batch_size, len(frames))))))
        for i in range(0, len(frames), batch_size)
    ]
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0)


def fit_reward_classifier(
    frames: LabelledFrames, config: RewardClassifierConfig, *, progress: bool = True
) -> tuple[RewardClassifier, dict[str, Any]]:
    """Train on the training episodes of ``frames``; returns the model and the report."""
    from tqdm.auto import tqdm

    train_eps, held_eps = split_episodes(
        frames.episode_success, config.holdout_fraction, config.seed
    )
    train = frames.select(np.isin(frames.episode, train_eps))
    held = frames.select(np.isin(frames.episode, held_eps))
    positives = int(train.labels.sum())
    if positives == 0 or positives == len(train):
        raise ValueError(
            f"the training episodes hold {positives} success frames of {len(train)}: both "
            "classes are needed (record successful and failed episodes; with label='reward', "
            "record with success termination off, or use label='final')"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = RewardClassifier({k: v.shape[1:] for k, v in frames.obs.items()}, config)
    generator = torch.Generator().manual_seed(config.seed)
    augmentation = make_augmentation(config.augmentation)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    # cosine decay to zero: the last epochs settle instead of ending on a noisy step
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs * steps_per_epoch
    )
    # class-balanced BCE: positives weigh as much as negatives in total
    pos_weight = torch.tensor((len(train) - positives) / positives, dtype=torch.float32)
    labels = torch.as_tensor(train.labels, dtype=torch.float32)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc="reward classifier", unit="epoch", disable=not progress)
    for epoch in bar:
        order = torch.randperm(len(train), generator=generator).numpy()
        losses = []
        for i in range(0, len(order), config.batch_size):
            index = order[i : i + config.batch_size]
            obs = augmentation.apply(_tensors(train, index), model.encoder.image_keys, generator)
            loss = F.binary_cross_entropy_with_logits(
                model(obs), labels[index], pos_weight=pos_weight
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        held_probs = predict(model, held)
        held_acc = classification_metrics(held_probs, held.labels, config.threshold)["accuracy"]
        history.append(
            {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "heldout_accuracy": held_acc}
        )
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", heldout_acc=f"{held_acc:.3f}")
    train_seconds = time.perf_counter() - start
    bar.close()
    report = {
        "label": config.label,
        "cameras": list(config.cameras),
        "state_keys": list(config.state_keys),
        "threshold": config.threshold,
        "epochs": config.epochs,
        "train_seconds": round(train_seconds, 2),
        "train_episodes": train_eps.tolist(),
        "heldout_episodes": held_eps.tolist(),
        "train_frames": len(train),
        "train_positives": positives,
        "heldout_frames": len(held),
        "heldout_positives": int(held.labels.sum()),
        "train": classification_metrics(predict(model, train), train.labels, config.threshold),
        "heldout": classification_metrics(predict(model, held), held.labels, config.threshold),
        "history": history,
    }
    return model, report


def train_reward_classifier(
    dataset: str | Path,
    *,
    cameras: Sequence[str],
    epochs: int = 20,
    holdout_fraction: float = 0.2,
    threshold: float = 0.5,
    seed: int = 0,
    out: str | Path,
    state_keys: Sequence[str] = (),
    label: str = "reward",
    final_frames: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    encoder_options: Mapping[str, Any] | None = None,
    augmentation: str = "drq",
    progress: bool = True,
) -> dict[str, Any]:
    """Train a reward classifier on ``dataset``, save it to ``out`` (safetensors, plus
    ``<out>.json`` report and ``<out>.png`` curve) and return the report (held-out accuracy,
    precision, recall under ``report["heldout"]``)."""
    config = RewardClassifierConfig(
        cameras=tuple(cameras),
        state_keys=tuple(state_keys),
        encoder_options=dict(encoder_options or {}),
        threshold=threshold,
        label=label,  # type: ignore[arg-type]
        final_frames=final_frames,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        holdout_fraction=holdout_fraction,
        augmentation=augmentation,
        seed=seed,
    )
    frames = labelled_frames(
        dataset, cameras=cameras, state_keys=state_keys, label=label, final_frames=final_frames
    )
    log.info(
        "%s: %d frames (%d successes) from %d episodes",
        dataset,
        len(frames),
        int(frames.labels.sum()),
        len(frames.episode_success),
    )
    model, report = fit_reward_classifier(frames, config, progress=progress)
    report["dataset"] = str(dataset)
    out = Path(out)
    model.save(out, report)
    report["path"] = str(out)
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2))
    report["plot"] = str(plot_training(report, out.with_name(out.name + ".png")))
    return report


def plot_training(report: Mapping[str, Any], path: Path) -> Path:
    """Training loss and held-out accuracy per epoch, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    history = report["history"]
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="training loss (BCE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["heldout_accuracy"] for h in history], "s-", color="C1")
    ax2.set_ylabel("held-out accuracy", color="C1")
    ax2.set_ylim(0, 1.02)
    ax.legend(loc="center right")
    ax.set_title(f"reward classifier ({', '.join(report['cameras'])})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


# --- the env wrapper ----------------------------------------------------------------------------
class ClassifierReward(gym.Wrapper):
    """Replace the env's reward by the classifier's: ``1.0`` if ``p(success) > threshold``.

    ``terminate=True`` also ends the episode on a predicted success (OR-ed with the env's own
    termination, so safety stops still end it); on the twin, build the env with
    ``terminate_on_success=False`` so only the classifier decides. ``info`` keeps the env's
    reward (``env_reward``) and adds ``classifier_probability`` and ``classifier_success``;
    the env's ``is_success`` (ground truth where one exists) is left alone.
    """

    def __init__(
        self,
        env: gym.Env,
        classifier: RewardClassifier | str | Path,
        *,
        terminate: bool = False,
        threshold: float | None = None,
    ) -> None:
        super().__init__(env)
        model = (
            classifier
            if isinstance(classifier, RewardClassifier)
            else RewardClassifier.load(classifier)
        )
        leaves = flatten_space(env.observation_space)
        for key in model.keys:
            if key not in leaves:
                raise KeyError(
                    f"the env observes {sorted(leaves)}, not {key!r}, which the classifier "
                    f"reads; make the env with cameras={list(model.config.cameras)}"
                )
            if tuple(leaves[key].shape) != model.shapes[key]:
                raise ValueError(
                    f"the env's {key!r} has shape {leaves[key].shape}; the classifier was "
                    f"trained on {model.shapes[key]} (set image_size to match)"
                )
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.classifier = model.eval()
        self.threshold = float(threshold if threshold is not None else model.threshold)
        self.terminate = terminate

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        probability = float(self.classifier.probability(obs))
        success = probability > self.threshold
        info = {
            **info,
            "env_reward": env_reward,
            "classifier_probability": probability,
            "classifier_success": success,
        }
        if self.terminate and success:
            terminated = True
        return obs, float(success), terminated, truncated, info


# --- CLI ----------------------------------------------------------------------------------------
def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from robolearn.data.store import StoreError

    torch.set_num_threads(args.threads)
    try:
        report = train_reward_classifier(
            args.dataset,
            cameras=args.cameras,
            epochs=args.epochs,
            holdout_fraction=args.holdout_fraction,
            threshold=args.threshold,
            seed=args.seed,
            out=args.out,
            state_keys=args.state_keys,
            label=args.label,
            final_frames=args.final_frames,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=not args.json,
        )
    except (FileNotFoundError, KeyError, ValueError, StoreError) as err:
        print(f"robolearn train classifier: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "history"}))
        return 0
    held = report["heldout"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"

    print(
        f"reward classifier -> {report['path']}\n"
        f"  held-out: {report['heldout_frames']} frames ({report['heldout_positives']} successes)"
        f" from {len(report['heldout_episodes'])} episodes\n"
        f"  accuracy {pct(held['accuracy'])}, precision {pct(held['precision'])}, recall "
        f"{pct(held['recall'])} at threshold {report['threshold']}\n"
        f"  trained {report['epochs']} epochs in {report['train_seconds']:.1f} s; curve "
        f"{report['plot']}"
    )
    return 0


def add_classifier_subcommand(train_subparsers: Any) -> argparse.ArgumentParser:
    """Register ``classifier`` on the ``robolearn train`` sub-verbs (an argparse subparsers
    action): ``robolearn train classifier --dataset D --out F [...]``."""
    p = train_subparsers.add_parser(
        "classifier",
        help="train a success (reward) classifier on a dataset's camera frames (SERL)",
        description=(
            "Train a binary success classifier on camera frames of an episode dataset, "
            "report held-out accuracy/precision/recall (split by episode), and save it "
            "(safetensors + JSON metadata) for ClassifierReward."
        ),
    )
    p.add_argument("--dataset", required=True, help="episode store (zarr) with camera frames")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--cameras", nargs="+", default=["front", "wrist"], help="camera names")
    p.add_argument(
        "--state-keys", nargs="*", default=[], help="observation keys fused in (e.g. state)"
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--holdout-fraction", type=float, default=0.2, help="of the episodes")
    p.add_argument("--threshold", type=float, default=0.5, help="success iff p > threshold")
    p.add_argument(
        "--label",
        choices=LABELS,
        default="reward",
        help="reward: per-step sparse reward; final: last --final-frames of successful episodes",
    )
    p.add_argument("--final-frames", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam, cosine-decayed to 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_train_classifier)
    return p
