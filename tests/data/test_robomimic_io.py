"""robomimic interop, checked with the real robomimic package: its SequenceDataset loads our
export, and its BC trains on it with the loss going down; export -> import is lossless."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from robolearn.data.cli import add_data_parser
from robolearn.data.robomimic_io import (
    RobomimicFormatError,
    export_robomimic,
    import_robomimic,
    robomimic_obs_key,
    store_obs_key,
)
from robolearn.data.schema import ActionSource, FieldSpec
from robolearn.data.store import EpisodeMeta, EpisodeStore

STATE_DIM, ACTION_DIM, IMAGE = 10, 7, (32, 32, 3)
N_EPISODES = 10


def _schema() -> dict[str, FieldSpec]:
    return {
        "obs.state": FieldSpec((STATE_DIM,), "<f4"),
        "obs.images.front": FieldSpec(IMAGE, "|u1"),
        "action": FieldSpec((ACTION_DIM,), "<f4"),
        "reward": FieldSpec((), "<f4"),
        "terminated": FieldSpec((), "|b1"),
        "truncated": FieldSpec((), "|b1"),
        "action_source": FieldSpec((), "|u1"),
        "intervention": FieldSpec((), "|b1"),
    }


def _make_store(path: Path, seed: int = 0) -> np.ndarray:
    """10 episodes whose actions are tanh(W @ state): a BC policy can learn them exactly."""
    rng = np.random.default_rng(seed)
    weights = (0.5 * rng.normal(size=(ACTION_DIM, STATE_DIM))).astype(np.float32)
    with EpisodeStore.create(path, _schema()) as store:
        for e in range(N_EPISODES):
            n = int(rng.integers(30, 60))
            state = rng.uniform(-1, 1, (n, STATE_DIM)).astype(np.float32)
            frame = np.indices(IMAGE).sum(axis=0)
            images = ((frame[None] + 5 * np.arange(n)[:, None, None, None] + e) % 256).astype(
                np.uint8
            )
            terminated = np.zeros(n, bool)
            terminated[-1] = e % 2 == 0
            truncated = np.zeros(n, bool)
            truncated[-1] = e % 3 == 1  # some episodes just stop (neither flag)
            steps = {
                "obs.state": state,
                "obs.images.front": images,
                "action": np.tanh(state @ weights.T),
                "reward": terminated.astype(np.float32),
                "terminated": terminated,
                "truncated": truncated,
                "action_source": rng.integers(0, 3, n).astype(np.uint8),
                "intervention": rng.random(n) < 0.2,
            }
            final = {
                "obs.state": rng.uniform(-1, 1, STATE_DIM).astype(np.float32),
                "obs.images.front": np.full(IMAGE, 200 + e, np.uint8),
            }
            meta = EpisodeMeta(task="reach", success=e % 2 == 0, seed=e, operator="test")
            store.append(steps, meta, final)
    return weights


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("robomimic")
    _make_store(root / "ds")
    export_robomimic(root / "ds", root / "out.hdf5")
    return root / "ds", root / "out.hdf5"


# --- layout ---------------------------------------------------------------------------------
def test_key_naming_round_trips() -> None:
    assert robomimic_obs_key("obs.state") == "state"
    assert robomimic_obs_key("obs.images.wrist") == "wrist_image"
    assert store_obs_key("wrist_image", is_image=True) == "obs.images.wrist"
    assert store_obs_key("agentview", is_image=True) == "obs.images.agentview"
    assert store_obs_key("robot0_eef_pos", is_image=False) == "obs.robot0_eef_pos"


def test_env_name_is_the_registered_gym_id() -> None:
    from robolearn.data.robomimic_io import gym_env_id
    from robolearn.envs import ENV_IDS

    for task, env_id in ENV_IDS.items():
        assert gym_env_id(task) == env_id


def test_export_layout(exported) -> None:
    store_path, out = exported
    with EpisodeStore.open(store_path) as store, h5py.File(out, "r") as f:
        data = f["data"]
        assert sorted(data.keys(), key=lambda d: int(d[5:])) == [
            f"demo_{i}" for i in range(N_EPISODES)
        ]
        assert data.attrs["total"] == store.n_steps
        env_args = json.loads(data.attrs["env_args"])
        assert set(env_args) == {"env_name", "type", "env_kwargs"}
        assert env_args["type"] == 2  # robomimic's EnvType.GYM_TYPE
        assert env_args["env_name"] == "robolearn/PandaReach-v0"
        assert env_args["env_kwargs"]["control_hz"] == 10.0
        for i in range(N_EPISODES):
            demo, ep = data[f"demo_{i}"], store.episode(i)
            n = len(ep["action"])
            assert demo.attrs["num_samples"] == n
            assert set(demo["obs"]) == set(demo["next_obs"]) == {"state", "front_image"}
            np.testing.assert_array_equal(demo["obs/state"][()], ep["obs.state"])
            np.testing.assert_array_equal(demo["next_obs/state"][:-1], ep["obs.state"][1:])
            np.testing.assert_array_equal(demo["next_obs/state"][-1], ep["final.obs.state"])
            np.testing.assert_array_equal(
                demo["next_obs/front_image"][-1], ep["final.obs.images.front"]
            )
            assert demo["obs/front_image"].dtype == np.uint8
            assert demo["obs/front_image"].shape == (n, *IMAGE)
            np.testing.assert_array_equal(demo["actions"][()], ep["action"])
            np.testing.assert_array_equal(demo["rewards"][()], ep["reward"])
            np.testing.assert_array_equal(demo["states"][()], ep["obs.state"])
            expected = ep["terminated"].copy()
            expected[-1] = True  # robomimic's done_mode 2: done at the end of every demo
            np.testing.assert_array_equal(demo["dones"][()], expected.astype(int))


def test_done_mode_terminated(exported, tmp_path) -> None:
    store_path, _ = exported
    export_robomimic(store_path, tmp_path / "t.hdf5", done_mode="terminated")
    with EpisodeStore.open(store_path) as store, h5py.File(tmp_path / "t.hdf5", "r") as f:
        for i in range(N_EPISODES):
            terminated = store.episode(i, keys=["terminated"])["terminated"]
            np.testing.assert_array_equal(f[f"data/demo_{i}/dones"][()], terminated.astype(int))
    with pytest.raises(ValueError, match="done_mode"):
        export_robomimic(store_path, tmp_path / "x.hdf5", done_mode="sometimes")


def test_image_compression(exported, tmp_path) -> None:
    store_path, out = exported
    export_robomimic(store_path, tmp_path / "gz.hdf5", image_compression="gzip")
    with h5py.File(out, "r") as plain, h5py.File(tmp_path / "gz.hdf5", "r") as gz:
        assert plain["data/demo_0/obs/front_image"].compression is None
        assert plain["data/demo_0/obs/front_image"].chunks is None  # contiguous, as robomimic's
        assert gz["data/demo_0/obs/front_image"].compression == "gzip"
        np.testing.assert_array_equal(
            gz["data/demo_0/next_obs/front_image"][()],
            plain["data/demo_0/next_obs/front_image"][()],
        )


def test_export_refuses_to_overwrite(exported) -> None:
    store_path, out = exported
    with pytest.raises(FileExistsError, match="overwrite"):
        export_robomimic(store_path, out)


def test_round_trip_is_identical(exported, tmp_path) -> None:
    store_path, out = exported
    summary = import_robomimic(out, tmp_path / "back")
    assert summary.episodes == N_EPISODES
    with EpisodeStore.open(store_path) as a, EpisodeStore.open(tmp_path / "back") as b:
        assert a.schema == b.schema
        assert a.n_steps == b.n_steps == summary.steps
        np.testing.assert_array_equal(a.episode_ends, b.episode_ends)
        for i in range(N_EPISODES):
            ea, eb = a.episode(i), b.episode(i)
            assert ea.keys() == eb.keys()
            for key in ea:
                assert ea[key].dtype == eb[key].dtype, key
                np.testing.assert_array_equal(ea[key], eb[key], err_msg=f"episode {i} {key}")
            assert a.episode_meta(i) == b.episode_meta(i)


def test_import_appends_and_overrides_task(exported, tmp_path) -> None:
    _, out = exported
    import_robomimic(out, tmp_path / "ds")
    import_robomimic(out, tmp_path / "ds", task="other")
    with EpisodeStore.open(tmp_path / "ds") as store:
        assert store.n_episodes == 2 * N_EPISODES
        assert {store.episode_meta(i).task for i in range(N_EPISODES)} == {"reach"}
        assert store.episode_meta(N_EPISODES).task == "other"


def _write_native(path: Path) -> None:
    """A file shaped like robomimic's own image datasets (robosuite key names, float64)."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        total = 0
        for i, n in enumerate((12, 9, 15)):
            demo = data.create_group(f"demo_{i}")
            for prefix in ("obs", "next_obs"):
                demo[f"{prefix}/robot0_eef_pos"] = rng.normal(size=(n, 3))
                demo[f"{prefix}/object"] = rng.normal(size=(n, 10))
                demo[f"{prefix}/agentview_image"] = rng.integers(0, 255, (n, 8, 8, 3), np.uint8)
            demo["actions"] = rng.uniform(-1, 1, (n, 7))
            demo["rewards"] = np.r_[np.zeros(n - 1), 1.0]
            demo["dones"] = np.r_[np.zeros(n - 1, int), 1]
            demo["states"] = rng.normal(size=(n, 32))
            demo.attrs["num_samples"] = n
            demo.attrs["model_file"] = "<mujoco/>"
            total += n
        data.attrs["total"] = total
        env_kwargs = {"control_freq": 20, "has_renderer": False}
        data.attrs["env_args"] = json.dumps(
            {"env_name": "Lift", "type": 1, "env_kwargs": env_kwargs}
        )
        f["mask/train"] = np.array([b"demo_0", b"demo_2"])


def test_import_native_robomimic_file(tmp_path) -> None:
    src = tmp_path / "lift.hdf5"
    _write_native(src)
    summary = import_robomimic(src, tmp_path / "ds")
    assert summary.keys["obs.state"] == "obs/{object,robot0_eef_pos}"
    with EpisodeStore.open(tmp_path / "ds") as store, h5py.File(src, "r") as f:
        assert store.schema["obs.images.agentview"] == FieldSpec((8, 8, 3), "|u1")
        assert store.schema["obs.state"] == FieldSpec((13,), "<f4")
        assert store.schema["obs.robot0_eef_pos"] == FieldSpec((3,), "<f8")
        assert "states" not in store.schema and "dones" not in store.schema
        ep = store.episode(1)
        demo = f["data/demo_1"]
        state = np.concatenate([demo["obs/object"][()], demo["obs/robot0_eef_pos"][()]], axis=1)
        np.testing.assert_array_equal(ep["obs.state"], state.astype(np.float32))
        np.testing.assert_array_equal(
            ep["final.obs.robot0_eef_pos"], demo["next_obs/robot0_eef_pos"][-1]
        )
        np.testing.assert_array_equal(ep["action"], demo["actions"][()])
        assert ep["terminated"][-1] and not ep["terminated"][:-1].any()
        assert not ep["truncated"].any()
        assert (ep["action_source"] == ActionSource.HUMAN).all()
        meta = store.episode_meta(1)
        assert meta.task == "Lift" and meta.success and meta.control_hz == 20.0
    import_robomimic(src, tmp_path / "train", filter_key="train", state_keys=["robot0_eef_pos"])
    with EpisodeStore.open(tmp_path / "train") as store:
        assert store.n_episodes == 2 and store.n_steps == 12 + 15
        assert store.schema["obs.state"].shape == (3,)


def test_import_errors(tmp_path) -> None:
    src = tmp_path / "lift.hdf5"
    _write_native(src)
    with pytest.raises(RobomimicFormatError, match="filter key 'valid'"):
        import_robomimic(src, tmp_path / "a", filter_key="valid")
    with pytest.raises(RobomimicFormatError, match="cannot build obs.state"):
        import_robomimic(src, tmp_path / "b", state_keys=["nope"])
    bad = tmp_path / "bad.hdf5"
    with h5py.File(bad, "w") as f:
        f["x"] = 1
    with pytest.raises(RobomimicFormatError, match="no 'data' group"):
        import_robomimic(bad, tmp_path / "c")


def test_cli_export_import(exported, tmp_path, capsys) -> None:
    import argparse

    store_path, _ = exported
    parser = argparse.ArgumentParser(prog="robolearn")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli.hdf5"
    args = parser.parse_args(["data", "export", str(store_path), "--format", "robomimic", str(out)])
    assert args.func(args) == 0
    assert "10 demos" in capsys.readouterr().out
    args = parser.parse_args(["data", "export", str(store_path), str(out)])
    assert args.func(args) == 1  # exists, no --overwrite
    assert "overwrite" in capsys.readouterr().err
    args = parser.parse_args(["data", "import", str(out), str(tmp_path / "ds"), "--task", "t"])
    assert args.func(args) == 0
    with EpisodeStore.open(tmp_path / "ds") as store:
        assert store.n_episodes == N_EPISODES and store.episode_meta(0).task == "t"


# --- the real robomimic ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def robomimic():
    importlib.import_module("robomimic")
    if "triton" not in sys.modules and "mujoco" in sys.modules:
        # MuJoCo with MUJOCO_GL=osmesa loaded libOSMesa (LLVM 15); importing triton's own LLVM
        # after it segfaults. robomimic reaches triton through torchvision -> torch._dynamo;
        # CPU training does not need it, and torch treats a failed import as "no triton".
        sys.modules["triton"] = None
    import torch

    torch.set_num_threads(1)
    import robomimic.utils.obs_utils as obs_utils

    return obs_utils


def test_sequence_dataset_loads_export(exported, robomimic) -> None:
    from robomimic.utils import file_utils
    from robomimic.utils.dataset import SequenceDataset

    store_path, out = exported
    robomimic.initialize_obs_utils_with_obs_specs(
        {"obs": {"low_dim": ["state"], "rgb": ["front_image"]}}
    )
    dataset = SequenceDataset(
        hdf5_path=str(out),
        obs_keys=("state", "front_image"),
        dataset_keys=("actions", "rewards", "dones"),
        seq_length=1,
        hdf5_cache_mode="low_dim",
        hdf5_use_swmr=True,
    )
    with EpisodeStore.open(store_path) as store:
        assert len(dataset) == store.n_steps
        assert dataset.n_demos == store.n_episodes
        start, _ = store.episode_range(3)
        item = dataset[start + 4]  # demo_3, step 4
        ep = store.episode(3)
    assert item["obs"]["state"].shape == (1, STATE_DIM)
    assert item["obs"]["front_image"].shape == (1, *IMAGE)
    assert item["obs"]["front_image"].dtype == np.uint8
    assert item["next_obs"]["front_image"].shape == (1, *IMAGE)
    assert item["actions"].shape == (1, ACTION_DIM)
    assert item["rewards"].shape == item["dones"].shape == (1,)
    np.testing.assert_array_equal(item["obs"]["state"][0], ep["obs.state"][4])
    np.testing.assert_array_equal(item["next_obs"]["front_image"][0], ep["obs.images.front"][5])
    np.testing.assert_allclose(item["actions"][0], ep["action"][4])
    meta = file_utils.get_shape_metadata_from_dataset(
        str(out), all_obs_keys=["state", "front_image"]
    )
    assert meta["ac_dim"] == ACTION_DIM
    assert list(meta["all_shapes"]["front_image"]) == [3, 32, 32]  # robomimic's CHW
    assert meta["use_images"]
    assert file_utils.get_env_metadata_from_dataset(str(out))["type"] == 2


def test_robomimic_bc_trains_on_export(exported, robomimic) -> None:
    import torch
    from robomimic.algo import algo_factory
    from robomimic.config import config_factory
    from robomimic.utils import file_utils, train_utils
    from robomimic.utils.dataset import SequenceDataset

    _, out = exported
    torch.manual_seed(0)
    config = config_factory("bc")
    with config.values_unlocked():
        config.observation.modalities.obs.low_dim = ["state"]
        config.observation.modalities.obs.rgb = []
        config.algo.actor_layer_dims = (64, 64)
        config.algo.optim_params.policy.learning_rate.initial = 1e-3
        config.train.batch_size = 64
        config.train.cuda = False
    robomimic.initialize_obs_utils_with_config(config)
    shape_meta = file_utils.get_shape_metadata_from_dataset(str(out), all_obs_keys=["state"])
    model = algo_factory(
        config.algo_name,
        config,
        obs_key_shapes=shape_meta["all_shapes"],
        ac_dim=shape_meta["ac_dim"],
        device=torch.device("cpu"),
    )
    dataset = SequenceDataset(
        hdf5_path=str(out),
        obs_keys=("state",),
        dataset_keys=("actions", "rewards", "dones"),
        seq_length=1,
        hdf5_cache_mode="all",
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.train.batch_size,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )

    def evaluate() -> float:
        return train_utils.run_epoch(model, loader, epoch=0, validate=True, num_steps=6)["Loss"]

    initial = evaluate()
    losses = [
        train_utils.run_epoch(model, loader, epoch=e, num_steps=50)["Loss"] for e in range(1, 7)
    ]
    final = evaluate()
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    assert final < 0.5 * initial, (initial, losses, final)
