"""Networks for off-policy RL: observation encoders, an ensemble of critics, a tanh-Gaussian actor.

The critic ensemble keeps every member's weights stacked in one tensor (``(E, in, out)``) and runs
all members in one batched matmul per layer (``torch.baddbmm``): one forward pass for 10 critics,
not a Python loop over 10 modules. A subset of members (the target's random pair in RLPD) is run by
indexing the stacked weights, so only the chosen members cost compute.

Observations reach the networks as a flat ``dict[str, Tensor]`` (nested keys joined with ``.``,
e.g. ``images.front``, the dataset's naming without the ``obs.`` prefix) or as a single tensor. An
``ObservationEncoder`` turns them into one feature vector per sample; encoders are chosen by name
from ``ENCODERS`` so an image encoder can be registered next to ``flatten`` without touching the
agent.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robolearn.registry import Registry

log = logging.getLogger(__name__)

Observation = Tensor | Mapping[str, Tensor]
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # as in the SAC reference implementation and SB3
_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --- observations -------------------------------------------------------------------------------
def flatten_space(space: gym.Space, prefix: str = "") -> dict[str, gym.Space]:
    """The leaves of a (nested) Dict space by dotted key; a non-Dict space is the one key ``""``."""
    if not isinstance(space, gym.spaces.Dict):
        return {prefix: space}
    out: dict[str, gym.Space] = {}
    for key, sub in space.spaces.items():
        out.update(flatten_space(sub, f"{prefix}.{key}" if prefix else key))
    return out


def flatten_obs(obs: Any, prefix: str = "") -> dict[str, Any]:
    """A (nested) dict observation as a flat dict by dotted key; an array is the one key ``""``."""
    if not isinstance(obs, Mapping):
        return {prefix: obs}
    out: dict[str, Any] = {}
    for key, value in obs.items():
        out.update(flatten_obs(value, f"{prefix}.{key}" if prefix else key))
    return out


def is_float_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating)


def select_keys(
    leaves: Mapping[str, gym.Space],
    keys: Sequence[str] | None,
    accept: Callable[[gym.Space], bool],
    *,
    wrong: str,
    none: str,
) -> list[str]:
    """The observation keys an encoder reads: ``keys``, or every leaf ``accept`` takes. Errors:
    a key the observation lacks (KeyError), a key ``accept`` refuses (``wrong``, with
    ``{keys}``), nothing to read (``none``)."""
    if keys is None:
        keys = [k for k, s in leaves.items() if accept(s)]
    missing = [k for k in keys if k not in leaves]
    if missing:
        raise KeyError(f"observation has no key(s) {missing}; it has {sorted(leaves)}")
    refused = [k for k in keys if not accept(leaves[k])]
    if refused:
        raise ValueError(wrong.format(keys=refused))
    if not keys:
        raise ValueError(none)
    return list(keys)


class ObservationEncoder(nn.Module, abc.ABC):
    """Maps a batch of flat observations (``dict[str, Tensor]`` by dotted key) to features.

    Subclasses set ``output_dim`` and ``keys`` (the observation keys they read) in ``__init__``.
    The critic's loss trains the encoder; the actor sees its output detached (as in DrQ/SERL),
    which only matters for encoders with parameters.
    """

    output_dim: int
    keys: tuple[str, ...]
    image_keys: tuple[str, ...] = ()  # the keys that are camera images (augmented in training)

    @abc.abstractmethod
    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        """Features of shape ``(batch, output_dim)``."""

    @property
    def needs_fit(self) -> bool:
        """True while data-dependent statistics (normalisation) are still unset."""
        return False

    def fit(self, obs: Mapping[str, Tensor]) -> None:  # noqa: B027 - optional hook
        """Set data-dependent statistics from a batch of observations (once, before learning)."""


ENCODERS: Registry[type[ObservationEncoder]] = Registry("observation encoder")


@ENCODERS.register("flatten")
class FlattenEncoder(ObservationEncoder):
    """Concatenates the floating-point vector keys of the observation (state vectors).

    Integer keys (uint8 camera images) are skipped; pass ``keys`` to choose the keys and their
    order. For a plain Box observation space the single key is ``""``. With ``normalize=True``
    (the default: raw proprioception and object poses span very different scales, and a user's
    first run should learn) the features are standardised with a mean and standard deviation
    fitted once (`fit`, from the demos and the first online data; stored in the state dict, so
    in checkpoints), floored at ``min_std`` and clipped to ``+-clip``.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        *,
        keys: Sequence[str] | None = None,
        normalize: bool = True,
        min_std: float = 1e-2,
        clip: float = 10.0,
    ) -> None:
        super().__init__()
        leaves = flatten_space(observation_space)
        keys = select_keys(
            leaves,
            keys,
            is_float_box,
            wrong="the flatten encoder takes floating-point Box keys only; {keys} are not "
            "(register an image encoder for camera images)",
            none=f"no floating-point Box in the observation space {observation_space}; the "
            "flatten encoder has nothing to read",
        )
        if min_std <= 0 or clip <= 0:
            raise ValueError(f"min_std and clip must be positive, got {min_std}, {clip}")
        self.keys = tuple(keys)
        self.output_dim = int(sum(math.prod(leaves[k].shape) for k in self.keys))
        self.normalize, self.min_std, self.clip = normalize, float(min_std), float(clip)
        self.register_buffer("mean", torch.zeros(self.output_dim))
        self.register_buffer("std", torch.ones(self.output_dim))
        self.register_buffer("fitted", torch.tensor(False))

    def _concat(self, obs: Mapping[str, Tensor]) -> Tensor:
        parts = [obs[k].flatten(1) for k in self.keys]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        x = self._concat(obs)
        if self.normalize:
            x = ((x - self.mean) / self.std).clamp(-self.clip, self.clip)
        return x

    @property
    def needs_fit(self) -> bool:
        return self.normalize and not bool(self.fitted)

    @torch.no_grad()
    def fit(self, obs: Mapping[str, Tensor]) -> None:
        if not self.normalize:
            return
        x = self._concat(obs).double()
        if len(x) < 2:
            raise ValueError("fitting the observation normaliser needs at least 2 observations")
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(self.min_std))
        self.fitted.fill_(True)


def make_encoder(
    name: str, observation_space: gym.Space, options: Mapping[str, Any] | None = None
) -> ObservationEncoder:
    return ENCODERS.get(name)(observation_space, **dict(options or {}))


# --- image encoders ----------------------------------------------------------------------------
def is_image_box(space: gym.Space) -> bool:
    """A camera image: a uint8 Box laid out ``(H, W, C)`` (channels last), C in 1..4."""
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and 1 <= space.shape[-1] <= 4
    )


class SpatialSoftmax(nn.Module):
    """Feature maps to expected image coordinates, one (x, y) keypoint per channel.

    Levine, Finn, Darrell and Abbeel, "End-to-End Training of Deep Visuomotor Policies", 2016,
    https://arxiv.org/abs/1504.00702, section 4.2: a softmax over each channel's positions,
    then the expected x and y in ``[-1, 1]``. The softmax temperature is learned.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(
            torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing="ij"
        )
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], dim=-1))
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        attention = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1)  # (B,C,HW)
        return (attention @ self.grid).flatten(1)  # (B, 2C): x, y per channel


class ConvTrunk(nn.Module):
    """One camera's encoder: conv layers (ReLU), then a bottleneck to ``feature_dim``.

    DrQ's encoder (Kostrikov et al. 2020, https://arxiv.org/abs/2004.13649, appendix; the same
    shape as SAC-AE's) is 3x3 convolutions of 32 channels and a ``Linear -> LayerNorm -> tanh``
    bottleneck over the flattened maps (``pooling="flatten"``). At 128x128 we stride every
    layer by 2 (DrQ strides only the first, at 84x84) to keep the CPU cost and the flattened size
    small. ``pooling="spatial_softmax"`` replaces flattening by `SpatialSoftmax` keypoints.

    Input: uint8 (or float in [0, 255]) images ``(B, H, W, C)``; they are scaled to
    ``[-0.5, 0.5]`` here, so replay buffers keep compact uint8 frames.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        channels: Sequence[int] = (32, 32, 32, 32),
        strides: Sequence[int] = (2, 2, 2, 2),
        kernel_size: int = 3,
        feature_dim: int = 64,
        pooling: str = "flatten",
    ) -> None:
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise ValueError(
                f"channels {tuple(channels)} and strides {tuple(strides)} must be non-empty and "
                "of the same length (one per conv layer)"
            )
        if pooling not in ("flatten", "spatial_softmax"):
            raise ValueError(f"pooling must be 'flatten' or 'spatial_softmax', got {pooling!r}")
        h, w, c = (int(s) for s in image_shape)
        layers: list[nn.Module] = []
        for out_c, stride in zip(channels, strides, strict=True):
            layers += [nn.Conv2d(c, int(out_c), kernel_size, stride=int(stride)), nn.ReLU()]
            c = int(out_c)
            h, w = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
            if h < 1 or w < 1:
                raise ValueError(
                    f"images of {tuple(image_shape)} are too small for {len(channels)} conv "
                    f"layers with strides {tuple(strides)}; use fewer layers or stride 1"
                )
        self.conv = nn.Sequential(*layers)
        self.pooling = pooling
        self.pool: nn.Module = (
            SpatialSoftmax(h, w) if pooling == "spatial_softmax" else nn.Flatten()
        )
        pooled = 2 * c if pooling == "spatial_softmax" else c * h * w
        self.bottleneck = nn.Sequential(
            nn.Linear(pooled, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh()
        )
        self.feature_dim = int(feature_dim)
        self.map_shape = (c, h, w)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # DrQ's initialisation: orthogonal weights (ReLU gain for the convolutions), zero
        # biases. With PyTorch's default the classifier of `reward_classifier` took about twice
        # the epochs to separate grasped-on-the-table from lifted frames.
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                gain = nn.init.calculate_gain("relu") if isinstance(module, nn.Conv2d) else 1.0
                nn.init.orthogonal_(module.weight, gain)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> Tensor:
        # (B, H, W, C) -> (B, C, H, W) as a view: a channels-last tensor, which the CPU conv
        # kernels take without a copy.
        x = images.permute(0, 3, 1, 2).float().div(255.0).sub_(0.5)  # never in place on input
        return self.bottleneck(self.pool(self.conv(x)))


def _module_name(key: str) -> str:
    return key.replace(".", "__")  # nn.ModuleDict names cannot contain dots


@ENCODERS.register("conv")
class ConvEncoder(ObservationEncoder):
    """Camera images through small conv trunks trained from scratch, fused with the state.

    Every image key (uint8 ``(H, W, C)`` Box; all of them unless ``image_keys`` is given) gets a
    `ConvTrunk` (one per camera; ``shared=True``: one trunk for all cameras of the same shape);
    the features are the concatenation of each camera's ``feature_dim`` bottleneck and the
    floating-point state keys (``state_keys``; all of them by default, ``()`` for images only),
    optionally standardised (``normalize_state``, as `FlattenEncoder`'s ``normalize``).

    In `robolearn.learn.rlpd.RLPDAgent` this encoder is trained by the critic loss only; the
    actor reads its features detached (DrQ / SERL), and the target critic has a Polyak-averaged
    copy. Images are augmented there with DrQ's random shift (`robolearn.learn.augment`).

    Pretrained weights: ``pretrained`` names a local safetensors file holding this encoder's
    trunk tensors, named as in ``encoder.trunks.state_dict()`` (``<key with . as __>.conv.0.weight``
    ...) after removing ``pretrained_prefix``. ``pretrained_prefix="encoder.trunks."`` reads
    them straight out of an RLPD checkpoint or a reward-classifier file of the same
    architecture; `export_trunks` writes such a file. ``freeze_pretrained=True`` stops
    gradients into the loaded conv layers (the bottleneck stays trainable, as SERL does with its
    frozen pretrained ResNet). A different architecture (a ResNet, say) is a new class
    registered in ``ENCODERS``.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        *,
        image_keys: Sequence[str] | None = None,
        state_keys: Sequence[str] | None = None,
        channels: Sequence[int] = (32, 32, 32, 32),
        strides: Sequence[int] = (2, 2, 2, 2),
        kernel_size: int = 3,
        feature_dim: int = 64,
        pooling: str = "flatten",
        shared: bool = False,
        normalize_state: bool = True,
        pretrained: str | None = None,
        pretrained_prefix: str = "",
        freeze_pretrained: bool = False,
    ) -> None:
        super().__init__()
        leaves = flatten_space(observation_space)
        image_keys = select_keys(
            leaves,
            image_keys,
            is_image_box,
            wrong="{keys} are not camera images (uint8 Box of shape (H, W, C)); the conv "
            "encoder reads images there",
            none=f"no camera image in the observation space {observation_space}; use the "
            "'flatten' encoder for state-only observations (or turn cameras on)",
        )
        if state_keys is None:
            state_keys = [k for k, s in leaves.items() if is_float_box(s)]
        self.image_keys = tuple(image_keys)
        self.state: FlattenEncoder | None = None
        if state_keys:
            self.state = FlattenEncoder(
                observation_space, keys=list(state_keys), normalize=normalize_state
            )
        self.keys = self.image_keys + (self.state.keys if self.state is not None else ())
        options = {
            "channels": tuple(channels),
            "strides": tuple(strides),
            "kernel_size": int(kernel_size),
            "feature_dim": int(feature_dim),
            "pooling": pooling,
        }
        self.trunks = nn.ModuleDict()
        self._trunk_of: dict[str, str] = {}
        for key in self.image_keys:
            shape = tuple(leaves[key].shape)
            name = f"shared_{'x'.join(map(str, shape))}" if shared else _module_name(key)
            if name not in self.trunks:
                self.trunks[name] = ConvTrunk(shape, **options)
            self._trunk_of[key] = name
        self.output_dim = len(self.image_keys) * int(feature_dim) + (
            self.state.output_dim if self.state is not None else 0
        )
        if pretrained is not None:
            self.load_trunks(pretrained, prefix=pretrained_prefix, freeze=freeze_pretrained)
        elif freeze_pretrained:
            raise ValueError("freeze_pretrained=True needs pretrained=<safetensors file>")

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        parts = [self.trunks[self._trunk_of[k]](obs[k]) for k in self.image_keys]
        if self.state is not None:
            parts.append(self.state(obs))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    @property
    def needs_fit(self) -> bool:
        return self.state is not None and self.state.needs_fit

    def fit(self, obs: Mapping[str, Tensor]) -> None:
        if self.state is not None:
            self.state.fit(obs)

    def load_trunks(self, path: str, *, prefix: str = "", freeze: bool = False) -> None:
        """Load the conv trunks from a safetensors file (see the class docstring)."""
        from safetensors.torch import load_file

        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"pretrained encoder weights {file} do not exist")
        tensors = {
            k[len(prefix) :]: v for k, v in load_file(str(file)).items() if k.startswith(prefix)
        }
        own = self.trunks.state_dict()
        missing = sorted(set(own) - set(tensors))
        if missing:
            raise KeyError(
                f"{file} has no tensor(s) {[prefix + k for k in missing[:4]]}"
                f"{' ...' if len(missing) > 4 else ''} for this encoder (cameras "
                f"{list(self.image_keys)}); check pretrained_prefix (={prefix!r}) and that the "
                "file was saved from the same architecture"
            )
        wrong = [k for k in own if tensors[k].shape != own[k].shape]
        if wrong:
            raise ValueError(
                f"{file}: shape mismatch for {wrong[:4]} (file {tuple(tensors[wrong[0]].shape)}"
                f", encoder {tuple(own[wrong[0]].shape)}); the channels, strides, image size or "
                "feature_dim differ from the saved encoder"
            )
        self.trunks.load_state_dict({k: tensors[k] for k in own})
        if freeze:
            for trunk in self.trunks.values():
                trunk.conv.requires_grad_(False)
        log.info("loaded conv trunks from %s (frozen: %s)", file, freeze)

    def export_trunks(self, path: str | Path) -> Path:
        """Write the conv trunks to a safetensors file that ``pretrained=`` reads back."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.trunks.state_dict().items()}
        save_file(state, str(path), metadata={"format": "robolearn.conv_trunks"})
        return path


# --- layers -------------------------------------------------------------------------------------
class EnsembleLinear(nn.Module):
    """``E`` independent linear layers, stacked: ``y[e] = x[e] @ W[e] + b[e]``, one batched matmul.

    Input ``(B, in)`` (shared by all members) or ``(E, B, in)``; output ``(E, B, out)``.
    ``members`` (a LongTensor) runs only those members; ``detach_params`` uses the weights without
    gradient (the actor's loss must not train the critic).
    """

    def __init__(self, in_features: int, out_features: int, ensemble_size: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.ensemble_size = (
            in_features,
            out_features,
            ensemble_size,
        )
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default for each member: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        w, b = self.weight, self.bias
        if detach_params:
            w, b = w.detach(), b.detach()
        if members is not None:
            w, b = w[members], b[members]
        if self.out_features == 1:
            # A batched matrix-vector product: bmm runs it several times slower than this.
            return (x * w.transpose(1, 2)).sum(dim=-1, keepdim=True) + b
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(w.shape[0], -1, -1)
        return torch.baddbmm(b, x, w)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, ensemble_size={self.ensemble_size}"


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over features with per-member scale and shift (each critic has its own)."""

    def __init__(self, features: int, ensemble_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.features, self.eps = features, eps
        self.weight = nn.Parameter(torch.ones(ensemble_size, 1, features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, features))

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        w, b = self.weight, self.bias
        if detach_params:
            w, b = w.detach(), b.detach()
        if members is not None:
            w, b = w[members], b[members]
        return torch.addcmul(b, F.layer_norm(x, (self.features,), eps=self.eps), w)


class EnsembleMLP(nn.Module):
    """``E`` MLPs run as one: Linear -> [LayerNorm] -> ReLU per hidden layer, then Linear."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        ensemble_size: int,
        layer_norm: bool,
    ) -> None:
        super().__init__()
        dims = [in_dim, *hidden_dims]
        self.hidden = nn.ModuleList(
            EnsembleLinear(a, b, ensemble_size) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.norms = nn.ModuleList(
            EnsembleLayerNorm(h, ensemble_size) if layer_norm else nn.Identity()
            for h in hidden_dims
        )
        self.out = EnsembleLinear(dims[-1], out_dim, ensemble_size)
        self.layer_norm = layer_norm

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        for linear, norm in zip(self.hidden, self.norms, strict=True):
            x = linear(x, members, detach_params)
            if self.layer_norm:
                x = norm(x, members, detach_params)
            x = F.relu(x, inplace=True)  # x is a fresh tensor whose producer does not save it
        return self.out(x, members, detach_params)


class CriticEnsemble(nn.Module):
    """``Q_1..Q_E(s, a)``: an ensemble of state-action value MLPs, output ``(E, B)``."""

    def __init__(
        self,
        feature_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        ensemble_size: int,
        layer_norm: bool = True,
    ) -> None:
        super().__init__()
        self.ensemble_size = ensemble_size
        self.net = EnsembleMLP(
            feature_dim + action_dim, hidden_dims, 1, ensemble_size, layer_norm=layer_norm
        )

    def forward(
        self,
        features: Tensor,
        action: Tensor,
        members: Tensor | None = None,
        detach_params: bool = False,
    ) -> Tensor:
        x = torch.cat([features, action], dim=-1)
        return self.net(x, members, detach_params).squeeze(-1)


def mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_dims:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """``pi(a|s)``: a Gaussian in pre-tanh space squashed by tanh into ``[-1, 1]^A``.

    Returns the action and its log-probability including the tanh change of variables
    (SAC paper, appendix C: ``log pi(a|s) = log mu(u|s) - sum log(1 - tanh(u)^2)``), computed in
    the numerically stable form ``2 (log 2 - u - softplus(-2u))``.
    """

    def __init__(self, feature_dim: int, action_dim: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.net = mlp(feature_dim, hidden_dims, 2 * action_dim)

    def forward(
        self,
        features: Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        with_log_prob: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        mean, log_std = self.net(features).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean), None
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        u = mean + log_std.exp() * noise  # reparameterisation: a = tanh(mu + sigma * eps)
        action = torch.tanh(u)
        if not with_log_prob:
            return action, None
        gaussian = -0.5 * noise.square() - log_std - _HALF_LOG_2PI
        squash = 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
        return action, (gaussian - squash).sum(dim=-1)
