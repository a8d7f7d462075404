"""The actor/learner codec: round trips, and clear rejections of what is not a valid message."""

from __future__ import annotations

import json
import struct

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.numpy import save as st_save

from robolearn.learn.codec import (
    FORMAT_VERSION,
    CodecError,
    TransitionBatch,
    WeightSnapshot,
    decode_transitions,
    decode_weights,
    encode_transitions,
    encode_weights,
    payload_kind,
    read_metadata,
)
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig


def _batch(n: int = 5, dict_obs: bool = True) -> TransitionBatch:
    rng = np.random.default_rng(0)

    def obs():
        state = rng.standard_normal((n, 4)).astype(np.float32)
        if not dict_obs:
            return state
        image = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        return {"state": state, "images": {"front": image}}

    return TransitionBatch(
        actor_id="actor_7",
        sequence=12,
        transitions={
            "obs": obs(),
            "next_obs": obs(),
            "action": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
            "reward": rng.standard_normal(n).astype(np.float32),
            "terminated": np.array([False] * (n - 1) + [True]),
            "truncated": np.zeros(n, bool),
        },
        intervened=np.array([True] + [False] * (n - 1)),
        success=np.array([False] * (n - 1) + [True]),
        policy_version=40,
    )


def test_transitions_round_trip_dict_obs_with_images():
    batch = _batch()
    data = encode_transitions(batch)
    assert payload_kind(data) == "transitions"
    out = decode_transitions(data)
    assert (out.actor_id, out.sequence, out.policy_version, len(out)) == ("actor_7", 12, 40, 5)
    # nested obs come back flat by dotted key, the replay buffer's layout
    assert set(out.transitions["obs"]) == {"state", "images.front"}
    assert out.transitions["obs"]["images.front"].dtype == np.uint8
    np.testing.assert_array_equal(
        out.transitions["obs"]["images.front"], batch.transitions["obs"]["images"]["front"]
    )
    np.testing.assert_array_equal(
        out.transitions["next_obs"]["state"], batch.transitions["next_obs"]["state"]
    )
    for key in ("action", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(out.transitions[key], batch.transitions[key])
        assert out.transitions[key].dtype == batch.transitions[key].dtype
    np.testing.assert_array_equal(out.intervened, batch.intervened)
    np.testing.assert_array_equal(out.success, batch.success)
    np.testing.assert_array_equal(out.episode_ends, [False, False, False, False, True])


def test_transitions_round_trip_plain_array_obs_goes_into_a_replay_buffer():
    from robolearn.learn.replay import ReplayBuffer

    out = decode_transitions(encode_transitions(_batch(dict_obs=False)))
    assert isinstance(out.transitions["obs"], np.ndarray)
    buffer = ReplayBuffer(
        gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        gym.spaces.Box(-1, 1, (2,), np.float32),
        capacity=10,
    )
    buffer.add_batch(out.transitions)
    assert len(buffer) == 5
    np.testing.assert_array_equal(buffer.obs[""][:5], out.transitions["obs"])


def test_weights_round_trip_restores_the_policy_exactly():
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
    act_space = gym.spaces.Box(-2, 2, (3,), np.float32)
    config = RLPDConfig(hidden_dims=(32, 32), encoder_options={"normalize": True})
    learner = RLPDAgent(obs_space, act_space, config)
    learner.fit_observation_stats(np.random.default_rng(0).normal(3.0, 2.0, (50, 6)))
    data = encode_weights(
        WeightSnapshot(learner.policy_state_dict(), 120, "run-a", config.to_dict())
    )
    snap = decode_weights(data)
    assert (snap.version, snap.run_id) == (120, "run-a")
    assert all(not k.startswith(("critic", "target")) for k in snap.tensors)
    actor = RLPDAgent(obs_space, act_space, RLPDConfig.from_dict(snap.config))
    x = np.random.default_rng(1).normal(3.0, 2.0, (16, 6)).astype(np.float32)
    assert not np.allclose(actor.act(x, deterministic=True), learner.act(x, deterministic=True))
    actor.load_policy_state_dict(snap.tensors)
    np.testing.assert_array_equal(
        actor.act(x, deterministic=True), learner.act(x, deterministic=True)
    )
    assert not actor.needs_observation_stats  # the normaliser's buffers came along


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short"),
        (b"\x00" * 7, "too short"),
        (b"garbage that is not a safetensors buffer at all", "not a complete"),
        (struct.pack("<Q", 4) + b"nope", "not JSON"),
        (struct.pack("<Q", 2) + b"{}", "no safetensors metadata"),
        (st_save({"a": np.zeros(2, np.float32)}, metadata={"format": "other"}), "format is"),
    ],
)
def test_rejects_garbage(data, message):
    with pytest.raises(CodecError, match=message):
        decode_transitions(data)
    with pytest.raises(CodecError, match=message):
        decode_weights(data)


def test_rejects_truncated_payloads():
    data = encode_transitions(_batch())
    for cut in (len(data) - 1, len(data) // 2, 20):
        with pytest.raises(CodecError):
            decode_transitions(data[:cut])


def _with_metadata(data: bytes, **changes: str) -> bytes:
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"].update(changes)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors keeps the data 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw + data[8 + length :]


def test_rejects_other_versions_and_kinds():
    data = encode_transitions(_batch())
    assert read_metadata(_with_metadata(data))["format_version"] == str(FORMAT_VERSION)
    with pytest.raises(CodecError, match="unsupported robolearn.serl format version '2'"):
        decode_transitions(_with_metadata(data, format_version="2"))
    with pytest.raises(CodecError, match="unknown payload kind 'gradients'"):
        decode_transitions(_with_metadata(data, kind="gradients"))
    with pytest.raises(CodecError, match="expected a 'weights' payload"):
        decode_weights(data)
    with pytest.raises(CodecError, match="'sequence' is not an integer"):
        decode_transitions(_with_metadata(data, sequence="x"))
    weights = encode_weights(WeightSnapshot({"actor.w": np.zeros(3, np.float32)}, 1, "r"))
    with pytest.raises(CodecError, match="expected a 'transitions' payload"):
        decode_transitions(weights)
    with pytest.raises(CodecError, match="'version' must be >= 0"):
        decode_weights(_with_metadata(weights, version="-3"))


def test_rejects_wrong_dtypes_and_shapes():
    def bad(**changes):
        batch = _batch()
        batch.transitions.update(changes)
        return batch

    # the encoder casts the row fields, so forge payloads with the raw safetensors writer
    good = decode_transitions(encode_transitions(_batch(dict_obs=False)))
    meta = read_metadata(encode_transitions(_batch(dict_obs=False)))

    def forged(**tensors):
        base = {
            "obs/": good.transitions["obs"], "next_obs/": good.transitions["next_obs"],
            "action": good.transitions["action"], "reward": good.transitions["reward"],
            "terminated": good.transitions["terminated"],
            "truncated": good.transitions["truncated"],
            "intervened": good.intervened, "success": good.success,
        }  # fmt: skip
        base.update(tensors)
        return st_save({k: v for k, v in base.items() if v is not None}, metadata=meta)

    with pytest.raises(CodecError, match="'action' must be float32, got float64"):
        decode_transitions(forged(action=good.transitions["action"].astype(np.float64)))
    with pytest.raises(CodecError, match="'terminated' must be bool"):
        decode_transitions(forged(terminated=np.zeros(5, np.uint8)))
    with pytest.raises(CodecError, match=r"'reward' must have shape \(5,\)"):
        decode_transitions(forged(reward=np.zeros(4, np.float32)))
    with pytest.raises(CodecError, match="lacks"):
        decode_transitions(forged(success=None))
    with pytest.raises(CodecError, match="unknown tensors"):
        decode_transitions(forged(extra=np.zeros(5, np.float32)))
    with pytest.raises(CodecError, match="disagree"):
        decode_transitions(forged(**{"next_obs/": np.zeros((5, 3), np.float32)}))
    with pytest.raises(CodecError, match="expected 5 rows"):
        decode_transitions(
            forged(
                **{"obs/": np.zeros((4, 4), np.float32), "next_obs/": np.zeros((4, 4), np.float32)}
            )
        )
    # the encoder validates too: a batch with mismatched obs fails at the actor, not the learner
    with pytest.raises(CodecError, match="differ from next_obs keys"):
        encode_transitions(bad(next_obs={"state": np.zeros((5, 4), np.float32)}))
    with pytest.raises(CodecError, match="unsupported dtype complex64"):
        encode_weights(WeightSnapshot({"w": np.zeros(2, np.complex64)}, 0, "r"))
    with pytest.raises(CodecError, match="no run_id"):
        encode_weights(WeightSnapshot({"w": np.zeros(2, np.float32)}, 0, ""))
