"""A demo stage resumes only into its own config's folder: `robolearn demo --quick` after `make
demo` in the same OUT started the SERL learner on the pick_cube checkpoint with a reach agent
(a size mismatch, then an AttributeError on shutdown)."""

from __future__ import annotations

from robolearn.demo.run import STAGE_CONFIG, _stage_folder


def test_another_configs_stage_folder_is_emptied_and_the_same_config_resumes(tmp_path):
    folder = tmp_path / "serl"
    first = {"profile": "default", "task": "pick_cube"}
    _stage_folder(folder, first)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "latest").write_text("ckpt-000001-step-500")

    _stage_folder(folder, dict(first))  # the same config: an interrupted run resumes there
    assert (folder / "checkpoints" / "latest").is_file()

    quick = {"profile": "quick", "task": "reach"}
    _stage_folder(folder, quick)  # another config: nothing of the old run is left to resume
    assert not (folder / "checkpoints").exists()
    assert (folder / STAGE_CONFIG).is_file()

    legacy = tmp_path / "old"  # a folder from before the marker: never resumed into
    (legacy / "checkpoints").mkdir(parents=True)
    _stage_folder(legacy, first)
    assert not (legacy / "checkpoints").exists()
