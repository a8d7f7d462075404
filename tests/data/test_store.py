from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robolearn.data.schema import FieldSpec, SchemaError, schema_from_arrays
from robolearn.data.store import EpisodeMeta, EpisodeStore, StoreError
from tests.data.conftest import make_episode


def test_round_trip_and_layout(store_path: Path) -> None:
    with EpisodeStore.open(store_path) as store:
        assert store.n_episodes == 4
        lengths = [len(make_episode(i)["action"]) for i in range(4)]
        np.testing.assert_array_equal(store.episode_ends, np.cumsum(lengths))
        for i in range(4):
            ep = store.episode(i)
            for key, value in make_episode(i).items():
                np.testing.assert_array_equal(ep[key], value)
            np.testing.assert_array_equal(ep["final.obs.state"], make_episode(i)["obs.state"][-1])
            assert store.episode_meta(i).seed == i
    # diffusion_policy-style layout on disk
    assert (store_path / "data" / "obs.state" / "zarr.json").is_file()
    assert (store_path / "meta" / "episode_ends" / "zarr.json").is_file()
    images = json.loads((store_path / "data" / "obs.images.front" / "zarr.json").read_text())
    assert images["chunk_grid"]["configuration"]["chunk_shape"][0] == 1  # one frame per chunk


def test_info_and_stats(store_path: Path) -> None:
    with EpisodeStore.open(store_path, mode="a") as store:
        info = store.info()
        assert info["episodes"] == 4 and info["success_rate"] == 0.5
        assert info["keys"]["obs.images.front"]["shape"] == [8, 8, 3]
        stats = store.stats(["action"])
        all_actions = np.concatenate([make_episode(i)["action"] for i in range(4)])
        np.testing.assert_allclose(stats["action"]["mean"], all_actions.mean(0), rtol=1e-5)
        np.testing.assert_allclose(stats["action"]["max"], all_actions.max(0), rtol=1e-6)
        store.append(make_episode(9), EpisodeMeta(task="t", success=True))
        assert store.stats(["action"])["action"]["n"] == store.n_steps  # recomputed


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda e: e.pop("reward"), "missing key.*reward"),
        (
            lambda e: e.__setitem__("extra", np.zeros(len(e["action"]))),
            "not in the dataset schema.*extra",
        ),
        (lambda e: e.__setitem__("action", e["action"][:, :6]), "key 'action'.*shape"),
        (lambda e: e.__setitem__("obs.state", e["obs.state"][:-1]), "different lengths"),
    ],
)
def test_bad_episodes_name_the_episode_and_key(store_path: Path, mutate, match: str) -> None:
    with EpisodeStore.open(store_path, mode="a") as store:
        ep = make_episode(7)
        mutate(ep)
        with pytest.raises(SchemaError, match=match) as err:
            store.append(ep, EpisodeMeta(task="t", success=True))
        assert "episode 4" in str(err.value)
        assert store.n_episodes == 4  # nothing committed, nothing lost


def test_shape_change_between_steps_is_refused(store_path: Path) -> None:
    with EpisodeStore.open(store_path, mode="a") as store:
        writer = store.begin_episode()
        ep = make_episode(5)
        writer.add_step({k: v[0] for k, v in ep.items()})
        bad = {k: v[1] for k, v in ep.items()}
        bad["obs.state"] = np.zeros(6, np.float32)
        with pytest.raises(SchemaError, match="step 1.*obs.state"):
            writer.add_step(bad)


def test_delete_and_merge(store_path: Path, tmp_path: Path) -> None:
    with EpisodeStore.open(store_path, mode="a") as store:
        store.delete([1, 2])
        assert store.n_episodes == 2
        assert [store.episode_meta(i).seed for i in range(2)] == [0, 3]
        np.testing.assert_array_equal(store.episode(1)["action"], make_episode(3)["action"])
        other_path = tmp_path / "other"
        with EpisodeStore.create(other_path, store.schema) as other:
            other.append(make_episode(20), EpisodeMeta(task="u", success=True, seed=20))
        with EpisodeStore.open(other_path) as other:
            assert store.merge(other) == 1
        assert store.n_episodes == 3 and store.episode_meta(2).seed == 20
    assert not any(p.name.startswith("ds.") for p in store_path.parent.iterdir())


def test_merging_different_schemas_is_refused(store_path: Path, tmp_path: Path) -> None:
    ep = make_episode(0)
    ep["obs.state"] = np.zeros((len(ep["action"]), 9), np.float32)
    with EpisodeStore.create(tmp_path / "b", schema_from_arrays(ep)) as other:
        other.append(ep, EpisodeMeta(task="t", success=True))
        with EpisodeStore.open(store_path, mode="a") as store:
            with pytest.raises(SchemaError, match="schemas differ"):
                store.merge(other)
            assert store.n_episodes == 4


def test_corrupted_chunk_is_found_and_named(store_path: Path) -> None:
    chunk = sorted((store_path / "data" / "obs.images.front" / "c").rglob("*"))
    files = [p for p in chunk if p.is_file()]
    target = files[len(files) // 2]
    target.write_bytes(b"garbage" * 10)
    with EpisodeStore.open(store_path) as store:
        problems = store.validate()
    assert problems, "a corrupted chunk must be reported"
    assert any("obs.images.front" in p and "episode" in p for p in problems)


def test_truncated_array_is_reported(store_path: Path) -> None:
    import zarr

    arr = zarr.open_array(str(store_path / "data" / "action"), mode="r+")
    arr.resize((arr.shape[0] - 3, 7))
    with EpisodeStore.open(store_path) as store:
        assert any("key 'action'" in p and "rows" in p for p in store.validate())


def test_unknown_format_version_is_refused(store_path: Path) -> None:
    meta = json.loads((store_path / "zarr.json").read_text())
    meta["attributes"]["format_version"] = 99
    (store_path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="format_version 99 is not supported"):
        EpisodeStore.open(store_path)


def test_not_a_dataset_and_busy_writer_are_clear_errors(store_path: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no dataset here"):
        EpisodeStore.open(tmp_path / "nothing")
    with EpisodeStore.open(store_path, mode="a"):
        with pytest.raises(StoreError, match="open for writing by another process"):
            EpisodeStore.open(store_path, mode="a")
        EpisodeStore.open(store_path).close()  # readers are fine


def test_read_only_store_refuses_writes(store_path: Path) -> None:
    with EpisodeStore.open(store_path) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.append(make_episode(1), EpisodeMeta(task="t", success=True))


def test_schema_requires_the_core_keys(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="required key"):
        EpisodeStore.create(tmp_path / "x", {"obs.state": FieldSpec((3,), "<f4")})
