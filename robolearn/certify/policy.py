"""Certifiable policies: a deterministic map from the flat state observation to the env action.

A `CertifiablePolicy` wraps an ``nn.Module`` ``f: state -> action`` that `robolearn.certify.bounds`
can read, plus the checkpoint's metadata. Checkpoints are safetensors files (no pickle) with JSON
metadata; `load_policy` picks the reader from the metadata's ``format``:

- ``robolearn.certify.bc``: a `LipschitzMLP` from `robolearn.certify.bc.train_bc`.
- ``robolearn.rlpd``: the deterministic actor of an `RLPDAgent` checkpoint
  (`robolearn.learn.rlpd`): ``a = c + h * tanh(mean_head(mlp(clip((x - mu) / std))))``. The input
  normalisation (a diagonal ``1/std``), the clip and the tanh (both 1-Lipschitz) and the action
  scaling ``h`` are all in the chain, so they count in the bound.

The action is clipped to the action box when acting (a projection: 1-Lipschitz, so a bound on
``f`` bounds the clipped action too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from robolearn.certify.bounds import ActivationOp, LinearOp, Op, chain_rule, lipschitz_chain
from robolearn.certify.layers import LipschitzMLP
from robolearn.registry import Registry

log = logging.getLogger(__name__)

BC_FORMAT = "robolearn.certify.bc"
RLPD_FORMAT = "robolearn.rlpd"


@dataclass
class CertifiablePolicy:
    """``network`` maps a ``(B, obs_dim)`` float tensor of ``obs[obs_key]`` to env actions."""

    network: nn.Module
    obs_key: str = "state"
    action_low: float = -1.0
    action_high: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)

    def features(self, obs: Any) -> np.ndarray:
        """The network's input for one env observation (or a batch)."""
        if isinstance(obs, Mapping):
            if self.obs_key not in obs:
                raise KeyError(f"observation has no {self.obs_key!r}; it has {sorted(obs)}")
            obs = obs[self.obs_key]
        return np.asarray(obs, dtype=np.float32)

    def forward(self, x: Tensor) -> Tensor:
        """The clipped action, differentiable (for attacks)."""
        return self.network(x).clamp(self.action_low, self.action_high)

    def act(self, obs: Any) -> np.ndarray:
        x = torch.as_tensor(self.features(obs))
        with torch.no_grad():
            a = self.forward(x[None] if x.dim() == 1 else x)
        return a[0].numpy() if x.dim() == 1 else a.numpy()

    def chain(self) -> list[Op]:
        return lipschitz_chain(self.network)


# --- BC checkpoints -----------------------------------------------------------------------------
def save_bc_policy(
    network: LipschitzMLP, path: str | Path, *, obs_key: str = "state", **info: Any
) -> Path:
    """Write a `LipschitzMLP` policy as safetensors; ``info`` (task, dataset, training settings)
    goes into the metadata as JSON."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": BC_FORMAT,
        "format_version": "1",
        "network": json.dumps(network.config()),
        "obs_key": obs_key,
        "info": json.dumps(info, default=str),
    }
    state = {k: v.detach().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(path), metadata=meta)
    return path


def _load_bc(path: Path, meta: dict[str, str], state: dict[str, Tensor]) -> CertifiablePolicy:
    network = LipschitzMLP.from_config(json.loads(meta["network"]))
    network.load_state_dict(state)
    info = json.loads(meta.get("info", "{}"))
    return CertifiablePolicy(network, meta.get("obs_key", "state"), metadata=info, path=path)


# --- RLPD checkpoints ---------------------------------------------------------------------------
class RLPDDeterministicActor(nn.Module):
    """The deterministic action of `robolearn.learn.networks.TanhGaussianActor` behind the
    `FlattenEncoder`: ``center + half * tanh(mean(mlp(clip((x - mean) / std))))``."""

    def __init__(
        self,
        layers: list[nn.Linear],
        action_dim: int,
        *,
        obs_mean: Tensor | None,
        obs_std: Tensor | None,
        clip: float,
        center: float = 0.0,
        half: float = 1.0,
    ) -> None:
        super().__init__()
        self.action_dim, self.clip = action_dim, float(clip)
        self.normalize = obs_mean is not None
        self.register_buffer("obs_mean", obs_mean if obs_mean is not None else torch.zeros(0))
        self.register_buffer("obs_std", obs_std if obs_std is not None else torch.zeros(0))
        mods: list[nn.Module] = []
        for lin in layers[:-1]:
            mods += [lin, nn.ReLU()]
        last = layers[-1]
        head = nn.Linear(last.in_features, action_dim)  # the mean half of the last layer
        with torch.no_grad():
            head.weight.copy_(last.weight[:action_dim])
            head.bias.copy_(last.bias[:action_dim])
        self.mlp = nn.Sequential(*mods, head)
        self.center, self.half = float(center), float(half)

    def forward(self, x: Tensor) -> Tensor:
        if self.normalize:
            x = ((x - self.obs_mean) / self.obs_std).clamp(-self.clip, self.clip)
        return self.center + self.half * torch.tanh(self.mlp(x))


@chain_rule(RLPDDeterministicActor)
def _rlpd_actor(m: nn.Module) -> list[Op]:
    ops: list[Op] = []
    if m.normalize:
        ops += [LinearOp(torch.diag(1.0 / m.obs_std.double()), "1/std"), ActivationOp("clip")]
    ops += lipschitz_chain(m.mlp) + [ActivationOp("tanh")]
    ops.append(LinearOp(m.half * torch.eye(m.action_dim, dtype=torch.float64), "action scale"))
    return ops


def _load_rlpd(path: Path, meta: dict[str, str], state: dict[str, Tensor]) -> CertifiablePolicy:
    keys = json.loads(meta.get("obs_keys", '["state"]'))
    if len(keys) != 1:
        raise ValueError(f"{path}: expected one observation key, got {keys}")
    return rlpd_policy_from_state(
        state, meta.get("config", "{}"), obs_key=keys[0], source=str(path), path=path
    )


def rlpd_policy_from_state(
    state: Mapping[str, Any],
    config: Mapping[str, Any] | str,
    *,
    obs_key: str = "state",
    source: str = "weights",
    path: Path | None = None,
) -> CertifiablePolicy:
    """The deterministic actor of RLPD weights (a checkpoint's tensors or a streamed
    `RLPDAgent.policy_state_dict`, torch or numpy) with its `RLPDConfig` (dict or JSON)."""
    config = json.loads(config) if isinstance(config, str) else dict(config)
    if config.get("encoder", "flatten") != "flatten":
        raise ValueError(
            f"{source}: certification reads state-vector (flatten encoder) RLPD actors only; "
            f"this one uses the {config.get('encoder')!r} encoder"
        )
    weights = sorted(
        (int(k.split(".")[2]), k)
        for k in state
        if k.startswith("actor.net.") and k.endswith("weight")
    )
    if not weights:
        raise ValueError(f"{source}: no actor.net.*.weight tensors; not an RLPD actor")
    layers = []
    for _, key in weights:
        w = torch.as_tensor(state[key])
        b = torch.as_tensor(state[key[: -len("weight")] + "bias"])
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        layers.append(lin)
    action_dim = layers[-1].out_features // 2  # the actor outputs (mean, log_std)
    options = config.get("encoder_options", {}) or {}
    normalize = bool(options.get("normalize", False))
    network = RLPDDeterministicActor(
        layers,
        action_dim,
        obs_mean=torch.as_tensor(state["encoder.mean"]).float() if normalize else None,
        obs_std=torch.as_tensor(state["encoder.std"]).float() if normalize else None,
        clip=float(options.get("clip", 10.0)),
    )
    # The twin's action box is [-1, 1]^7; RLPD maps it to the unit box (center 0, half 1).
    return CertifiablePolicy(network, obs_key, metadata={"format": RLPD_FORMAT}, path=path)


# --- loading ------------------------------------------------------------------------------------
Loader = Callable[[Path, dict[str, str], dict[str, Tensor]], CertifiablePolicy]
POLICY_FORMATS: Registry[Loader] = Registry("policy checkpoint format")
POLICY_FORMATS.register(BC_FORMAT)(_load_bc)
POLICY_FORMATS.register(RLPD_FORMAT)(_load_rlpd)


AGENT_FILE = "agent.safetensors"  # the agent inside a learner checkpoint directory


def resolve_policy_path(path: str | Path) -> Path:
    """The checkpoint file: ``path`` itself, or ``path/agent.safetensors`` for a learner
    checkpoint directory (`robolearn.learn.learner`)."""
    path = Path(path)
    if path.is_dir():
        agent = path / AGENT_FILE
        if not agent.is_file():
            raise FileNotFoundError(f"{path} is a directory without {AGENT_FILE}")
        return agent
    return path


def load_policy(path: str | Path) -> CertifiablePolicy:
    """A certifiable policy from a safetensors checkpoint (format from its metadata), or from a
    learner checkpoint directory (its ``agent.safetensors``)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = resolve_policy_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no policy checkpoint at {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    fmt = meta.get("format")
    if fmt is None:
        raise ValueError(f"{path}: safetensors metadata has no 'format'; not a robolearn policy")
    return POLICY_FORMATS.get(fmt)(path, meta, load_file(str(path)))
