"""robolearn.paths: look-up order and errors (the installed case is in test_install.py)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from robolearn import paths

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", paths.ASSET_DIRS)
def test_source_checkout_wins(name):
    assert paths.source_root() == REPO
    assert paths.asset_dir(name) == REPO / name


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="expected one of sim, hardware, datasets, launch"):
        paths.asset_dir("configs")


def _fake_ament(monkeypatch, share: Path | None):
    def get_package_share_directory(package: str) -> str:
        if share is None:
            raise KeyError(package)
        return str(share)

    module = types.ModuleType("ament_index_python.packages")
    module.get_package_share_directory = get_package_share_directory
    monkeypatch.setitem(sys.modules, "ament_index_python", types.ModuleType("ament_index_python"))
    monkeypatch.setitem(sys.modules, "ament_index_python.packages", module)


def test_ament_index_before_prefix(monkeypatch, tmp_path):
    (tmp_path / "ament" / "launch").mkdir(parents=True)
    (tmp_path / "share" / "robolearn" / "launch").mkdir(parents=True)
    monkeypatch.setattr(paths, "source_root", lambda: None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    _fake_ament(monkeypatch, tmp_path / "ament")
    assert paths.asset_dir("launch") == tmp_path / "ament" / "launch"


def test_prefix_when_ament_does_not_know_the_package(monkeypatch, tmp_path):
    (tmp_path / "share" / "robolearn" / "sim").mkdir(parents=True)
    monkeypatch.setattr(paths, "source_root", lambda: None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    _fake_ament(monkeypatch, None)
    assert paths.asset_dir("sim") == tmp_path / "share" / "robolearn" / "sim"


def test_not_found_lists_every_place(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "source_root", lambda: None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(paths.site, "USER_BASE", str(tmp_path / "user"))
    _fake_ament(monkeypatch, None)
    with pytest.raises(FileNotFoundError) as info:
        paths.asset_dir("hardware")
    message = str(info.value)
    assert "source checkout" in message
    assert "ament index" in message
    assert str(tmp_path / "share" / "robolearn" / "hardware") in message
    assert str(tmp_path / "user" / "share" / "robolearn" / "hardware") in message
