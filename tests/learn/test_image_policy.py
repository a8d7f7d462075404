"""Image policies: the conv encoder, DrQ random shift, RLPD from pixels (twin and a toy task)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.learn.augment import (
    AUGMENTATIONS,
    NoAugmentation,
    RandomShift,
    make_augmentation,
)
from robolearn.learn.networks import ENCODERS, ConvEncoder, make_encoder
from robolearn.learn.replay import ReplayBuffer
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

SMALL_CONV = {"channels": (16, 16), "strides": (2, 2), "feature_dim": 32}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _space(size: int = 64, cameras: tuple[str, ...] = ("front", "wrist")) -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-np.inf, np.inf, (35,), np.float32),
            "images": gym.spaces.Dict(
                {c: gym.spaces.Box(0, 255, (size, size, 3), np.uint8) for c in cameras}
            ),
        }
    )


def _obs_batch(space: gym.spaces.Dict, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    out = {"state": torch.as_tensor(rng.normal(size=(n, 35)).astype(np.float32))}
    for camera, box in space["images"].spaces.items():
        out[f"images.{camera}"] = torch.as_tensor(rng.integers(0, 256, (n, *box.shape), np.uint8))
    return out


# --- the conv encoder ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("pooling", ["flatten", "spatial_softmax"])
def test_conv_encoder_shapes_and_fusion(size, pooling):
    space = _space(size)
    encoder = make_encoder("conv", space, {"pooling": pooling, "feature_dim": 50})
    assert "conv" in ENCODERS
    assert encoder.image_keys == ("images.front", "images.wrist")
    assert encoder.keys == ("images.front", "images.wrist", "state")
    assert encoder.output_dim == 2 * 50 + 35
    obs = _obs_batch(space, 5)
    features = encoder(obs)
    assert features.shape == (5, 135) and features.dtype == torch.float32
    # tanh bottleneck per camera, state passed through unchanged after them
    assert features[:, :100].abs().max() <= 1.0
    torch.testing.assert_close(features[:, 100:], obs["state"])
    assert set(encoder.trunks) == {"images__front", "images__wrist"}


def test_conv_encoder_reads_uint8_and_float_frames_alike_without_touching_them():
    space = _space(64, ("front",))
    encoder = ConvEncoder(space, state_keys=(), **SMALL_CONV)
    frames = _obs_batch(space, 3)["images.front"]
    as_float = frames.float()
    kept = as_float.clone()
    a = encoder({"images.front": frames})
    b = encoder({"images.front": as_float})
    torch.testing.assert_close(a, b)
    assert torch.equal(as_float, kept)  # the 0..255 -> [-0.5, 0.5] scaling is not in place
    assert encoder.output_dim == 32 and encoder.keys == ("images.front",)


def test_conv_encoder_shared_trunk_and_state_normalisation():
    space = _space(64)
    encoder = ConvEncoder(space, shared=True, normalize_state=True, **SMALL_CONV)
    assert len(encoder.trunks) == 1
    assert encoder.needs_fit
    obs = _obs_batch(space, 64)
    obs["state"] = obs["state"] * 5.0 + 3.0
    encoder.fit(obs)
    assert not encoder.needs_fit
    state_features = encoder(obs)[:, 64:]
    assert state_features.mean().abs() < 0.1 and (state_features.std(0) - 1).abs().max() < 0.1


def test_conv_encoder_rejects_bad_inputs_with_actionable_messages():
    state_only = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,), np.float32)})
    with pytest.raises(ValueError, match="flatten"):
        ConvEncoder(state_only)
    with pytest.raises(KeyError, match="images.top"):
        ConvEncoder(_space(), image_keys=["images.top"])
    with pytest.raises(ValueError, match="not camera images"):
        ConvEncoder(_space(), image_keys=["state"])
    with pytest.raises(ValueError, match="too small"):
        ConvEncoder(_space(16), channels=(8,) * 4, strides=(2,) * 4)
    with pytest.raises(ValueError, match="pretrained"):
        ConvEncoder(_space(), freeze_pretrained=True)


def test_pretrained_trunks_load_freeze_and_errors(tmp_path):
    space = _space(64)
    source = ConvEncoder(space, **SMALL_CONV)
    path = source.export_trunks(tmp_path / "trunks.safetensors")
    encoder = ConvEncoder(space, pretrained=str(path), freeze_pretrained=True, **SMALL_CONV)
    for key, value in source.trunks.state_dict().items():
        torch.testing.assert_close(encoder.trunks.state_dict()[key], value)
    frozen = [p for t in encoder.trunks.values() for p in t.conv.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert all(p.requires_grad for t in encoder.trunks.values() for p in t.bottleneck.parameters())
    with pytest.raises(FileNotFoundError):
        ConvEncoder(space, pretrained=str(tmp_path / "missing.safetensors"))
    with pytest.raises(KeyError, match="pretrained_prefix"):
        ConvEncoder(space, pretrained=str(path), pretrained_prefix="encoder.", **SMALL_CONV)
    with pytest.raises(ValueError, match="shape mismatch"):
        ConvEncoder(space, pretrained=str(path), channels=(8, 16), strides=(2, 2))


# --- DrQ random shift ---------------------------------------------------------------------------
def _coordinate_images(n: int, h: int = 20, w: int = 24) -> torch.Tensor:
    """Every pixel names itself: channel 0 its row, channel 1 its column, channel 2 the image."""
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    images = np.zeros((n, h, w, 3), np.uint8)
    images[..., 0], images[..., 1] = ys, xs
    images[..., 2] = np.arange(n)[:, None, None]
    return torch.as_tensor(images)


def _reference_crop(image: np.ndarray, pad: int, dy: int, dx: int) -> np.ndarray:
    """DrQ's definition: replicate-pad by `pad`, crop the window at (pad + dy, pad + dx)."""
    h, w = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[pad + dy : pad + dy + h, pad + dx : pad + dx + w]


def test_random_shift_is_a_replicate_pad_and_crop_by_at_most_pad_pixels():
    pad, n = 4, 250  # the image index fits channel 2 (uint8)
    images = _coordinate_images(n)
    out = RandomShift(pad)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    seen = set()
    for i in range(n):
        src, dst = images[i].numpy(), out[i].numpy()
        assert (dst[..., 2] == i).all()  # samples do not mix
        # the shift is read off the centre pixel, then the whole image is checked against it
        cy, cx = 10, 12
        dy, dx = int(dst[cy, cx, 0]) - cy, int(dst[cy, cx, 1]) - cx
        assert abs(dy) <= pad and abs(dx) <= pad
        np.testing.assert_array_equal(dst, _reference_crop(src, pad, dy, dx))
        seen.add((dy, dx))
    assert len(seen) >= 70  # of the 81 shifts, independently per sample


def test_random_shift_keeps_a_pattern_and_batches_over_leading_axes():
    images = torch.zeros(2, 3, 32, 32, 3, dtype=torch.uint8)
    images[..., 12:20, 10:18, :] = 255  # an 8x8 white square away from the border
    out = RandomShift(4)(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape
    for img in out.reshape(-1, 32, 32, 3):
        ys, xs = np.nonzero(img[..., 0].numpy())
        assert len(ys) == 64  # the square is moved whole, not resampled or cut
        assert ys.max() - ys.min() == 7 and xs.max() - xs.min() == 7
        assert abs(ys.min() - 12) <= 4 and abs(xs.min() - 10) <= 4


def test_random_shift_is_deterministic_under_a_seed():
    images = _coordinate_images(64)
    shift = RandomShift(4)
    a = shift(images, torch.Generator().manual_seed(3))
    b = shift(images, torch.Generator().manual_seed(3))
    c = shift(images, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(RandomShift(0)(images), images)
    assert torch.equal(NoAugmentation()(images), images)
    assert isinstance(make_augmentation("drq"), RandomShift) and make_augmentation("drq").pad == 4
    assert set(AUGMENTATIONS.names()) >= {"drq", "none"}
    with pytest.raises(ValueError):
        RandomShift(-1)
    with pytest.raises(KeyError, match="drq"):
        make_augmentation("cutout")
    with pytest.raises(ValueError, match="image_augmentation"):
        RLPDConfig(image_augmentation="cutout")


# --- RLPD from pixels ---------------------------------------------------------------------------
ACT7 = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)


def _image_agent(space: gym.Space, action_space: gym.Space = ACT7, **overrides) -> RLPDAgent:
    config = {
        "encoder": "conv",
        "encoder_options": dict(SMALL_CONV),
        "hidden_dims": (32, 32),
        "batch_size": 16,
        "utd_ratio": 2,
        **overrides,
    }
    return RLPDAgent(space, action_space, RLPDConfig(**config))


def _random_buffer(space: gym.Space, n: int = 64, seed: int = 0) -> ReplayBuffer:
    space.seed(seed)
    buffer = ReplayBuffer(space, ACT7, n)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        buffer.add(
            space.sample(), rng.uniform(-1, 1, 7), rng.random(), space.sample(), False, False
        )
    return buffer


def test_agent_augments_images_of_obs_and_next_obs_independently_and_not_the_state():
    space = _space(32)
    agent = _image_agent(space)
    batch = agent._tensors(_random_buffer(space).sample(16, np.random.default_rng(0)))
    augmented = agent.augment(batch)
    for part in ("obs", "next_obs"):
        assert torch.equal(augmented[part]["state"], batch[part]["state"])
        assert not torch.equal(augmented[part]["images.front"], batch[part]["images.front"])
    # independent draws: shifting obs' frames with next_obs' offsets does not reproduce obs
    same = {"obs": batch["obs"], "next_obs": batch["obs"]}
    twice = agent.augment({**batch, **same})
    assert not torch.equal(twice["obs"]["images.front"], twice["next_obs"]["images.front"])
    off = _image_agent(space, image_augmentation="none").augment(batch)
    assert torch.equal(off["obs"]["images.front"], batch["obs"]["images.front"])


def test_image_agent_updates_are_deterministic_and_actor_does_not_train_the_encoder():
    space = _space(32)
    buffer = _random_buffer(space)
    batch = buffer.sample(32, np.random.default_rng(1))
    a, b = _image_agent(space, seed=5), _image_agent(space, seed=5)
    assert a.update(batch) == b.update(batch)
    obs = {k: v[:4] for k, v in batch["obs"].items()}
    np.testing.assert_array_equal(a.act(obs), b.act(obs))
    # J_pi leaves the encoder without gradient (DrQ / SERL): features are detached there
    torch_batch = a._tensors(batch)
    torch_batch = {
        k: v[:16] if not isinstance(v, dict) else {n: t[:16] for n, t in v.items()}
        for k, v in torch_batch.items()
    }
    a.encoder.zero_grad(set_to_none=True)
    loss, _, _ = a.actor_loss(torch_batch)
    loss.backward()
    assert all(p.grad is None for p in a.encoder.parameters())
    critic_loss, _ = a.critic_loss(torch_batch)
    critic_loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in a.encoder.parameters())


def test_image_agent_checkpoint_round_trip(tmp_path):
    space = _space(32)
    buffer = _random_buffer(space)
    rng = np.random.default_rng(2)
    agent = _image_agent(space, seed=1)
    agent.update(buffer.sample(32, rng))
    path = agent.save(tmp_path / "agent.safetensors")
    restored = _image_agent(space, **{**RLPDAgent.config_of(path).to_dict(), "seed": 99})
    restored.load(path)
    for key, value in agent.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    obs = buffer.sample(5, rng)["obs"]
    np.testing.assert_array_equal(
        agent.act(obs, deterministic=True), restored.act(obs, deterministic=True)
    )
    batch = buffer.sample(32, rng)
    assert agent.update(batch) == restored.update(batch)  # generator (augmentation) restored too


def test_frozen_pretrained_encoder_in_rlpd_from_a_checkpoint(tmp_path):
    space = _space(32)
    buffer = _random_buffer(space)
    teacher = _image_agent(space, seed=3)
    teacher.update(buffer.sample(32, np.random.default_rng(0)))
    ckpt = teacher.save(tmp_path / "teacher.safetensors")
    options = {
        **SMALL_CONV,
        "pretrained": str(ckpt),
        "pretrained_prefix": "encoder.trunks.",
        "freeze_pretrained": True,
    }
    student = _image_agent(space, encoder_options=options)
    conv_before = {k: v.clone() for k, v in student.encoder.trunks.state_dict().items()}
    for key, value in teacher.encoder.trunks.state_dict().items():
        assert torch.equal(conv_before[key], value)
    student.update(buffer.sample(32, np.random.default_rng(1)))
    after = student.encoder.trunks.state_dict()
    assert all(torch.equal(after[k], v) for k, v in conv_before.items() if ".conv." in k)
    assert any(not torch.equal(after[k], v) for k, v in conv_before.items() if "bottleneck" in k)


def test_image_agent_acts_and_updates_on_the_twin_with_cameras():
    import robolearn.envs  # noqa: F401 - registers the ids

    env = gym.make("robolearn/PandaPickCube-v0", cameras=("front", "wrist"), image_size=(64, 64))
    try:
        agent = _image_agent(env.observation_space, env.action_space, batch_size=8)
        assert agent.encoder.image_keys == ("images.front", "images.wrist")
        buffer = ReplayBuffer(env.observation_space, env.action_space, 32)
        obs, _ = env.reset(seed=0)
        for _ in range(8):
            action = agent.act(obs)
            assert action.shape == (7,) and np.all(np.abs(action) <= 1)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            obs = next_obs
        before = {k: v.clone() for k, v in agent.encoder.state_dict().items()}
        metrics = agent.update(buffer.sample(16, np.random.default_rng(0)))
        assert np.isfinite(list(metrics.values())).all()
        assert agent.critic_steps == 2
        changed = [
            k for k, v in agent.encoder.state_dict().items() if not torch.equal(v, before[k])
        ]
        assert any(".conv." in k for k in changed)  # the critic trains the conv layers
    finally:
        env.close()


class ImageSideEnv(gym.Env):
    """A one-step task whose goal is visible only in the image: a bright square in the left or
    right half of a 32x32 frame (anywhere in it); reward 1 if the action's sign names that
    side. The state vector is all zeros, so a policy that ignores the image scores 50%."""

    metadata: dict = {"render_modes": []}

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.observation_space = gym.spaces.Dict(
            {
                "state": gym.spaces.Box(-1, 1, (2,), np.float32),
                "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            }
        )
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def _obs(self) -> dict:
        s, q = self.size, self.size // 4
        image = np.full((s, s, 3), 40, np.uint8)
        x0 = int(self.np_random.integers(2, s // 2 - q - 1)) + (s // 2 if self.side > 0 else 0)
        y0 = int(self.np_random.integers(2, s - q - 2))
        image[y0 : y0 + q, x0 : x0 + q] = (230, 200, 60)
        return {"state": np.zeros(2, np.float32), "image": image}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.side = 1 if self.np_random.random() < 0.5 else -1
        return self._obs(), {}

    def step(self, action):
        success = float(action[0]) * self.side > 0
        return self._obs(), float(success), True, False, {"is_success": success}


def test_rlpd_learns_a_goal_seen_only_in_the_image():
    """Tiny budget through the training loop (`train_rlpd`: 250 env steps, 64 random, then UTD
    1, DrQ shift on): the deterministic policy goes from chance to >= 90% on 100 episodes."""
    from robolearn.learn.train import train_rlpd

    config = RLPDConfig(
        encoder="conv",
        encoder_options=SMALL_CONV,
        hidden_dims=(64, 64),
        batch_size=64,
        utd_ratio=1,
        seed=0,
    )
    result = train_rlpd(
        ImageSideEnv(),
        total_steps=250,
        config=config,
        learning_starts=64,
        eval_every=0,
        eval_episodes=100,
        seed=0,
    )
    before, after = result.curve[0].success_rate, result.curve[-1].success_rate
    assert result.curve[-1].step == 250 and result.updates >= 180
    assert 0.3 <= before <= 0.7, before
    assert after >= 0.9, (before, after)


def test_image_agent_learns_from_recorded_demos_with_camera_frames():
    """Demos from an episode store with camera frames (the shipped sample, 64x64) feed the
    image agent: RLPD's 50/50 demo/online minibatches through `load_demos`."""
    from pathlib import Path

    from robolearn.learn.replay import load_demos

    sample = Path(__file__).resolve().parents[2] / "datasets" / "sample_pick_cube"
    space = _space(64)
    demos = load_demos(sample, space, ACT7)
    assert len(demos) > 100 and demos.obs["images.front"].dtype == np.uint8
    online = _random_buffer(space, n=32)
    agent = _image_agent(space, batch_size=16, utd_ratio=2)
    rng = np.random.default_rng(0)
    online_rows, demo_rows = agent.config.split()
    metrics = agent.update(online.sample(2 * online_rows, rng), demos.sample(2 * demo_rows, rng))
    assert np.isfinite(list(metrics.values())).all() and agent.critic_steps == 2
