"""A wheel of this checkout, installed into a fresh venv, finds its asset folders under share/.

The fresh venv sees the test interpreter's site-packages through a plain `.pth` path line (so
mujoco & co. import without reinstalling). A plain path line does not process the `.pth` files
found there, so an editable install of robolearn in the test venv stays invisible: the fresh
venv imports the installed wheel only, and the test checks that too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSET_DIRS = ("sim", "hardware", "datasets", "launch")
REQUIRED = ("sim/cell.xml", "hardware/franka.yaml")


def _source_files() -> list[str]:
    """The files a clean checkout holds: tracked plus untracked-but-not-ignored."""
    if shutil.which("git") and (REPO / ".git").exists():
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return sorted(f for f in out.split("\0") if f and (REPO / f).is_file())
    skip = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return sorted(
        p.relative_to(REPO).as_posix()
        for p in REPO.rglob("*")
        if p.is_file() and not skip.intersection(p.relative_to(REPO).parts)
    )


def _is_junk(rel: str) -> bool:
    parts = rel.split("/")
    return rel.endswith((".pyc", ".pyo")) or any(
        p.startswith(".") or p == "__pycache__" for p in parts
    )


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Copy a clean checkout, build its wheel, install it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("install")
    files = _source_files()
    src = tmp / "src"
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)

    wheels = tmp / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(wheels), str(src)]
    )
    (wheel,) = wheels.glob("robolearn-*.whl")

    prefix = tmp / "venv"
    venv.create(prefix, with_pip=False)
    py = prefix / "bin" / "python"
    site_packages = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    parent_paths = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "_parent_env.pth").write_text("\n".join(parent_paths) + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q"]
        + ["--no-deps", "--no-index", str(wheel)]
    )
    return {"prefix": prefix, "python": py, "files": files}


def _probe(python: Path, cwd: Path) -> dict[str, str]:
    code = textwrap.dedent(
        """
        import json, robolearn
        from robolearn.paths import asset_dir
        names = ("sim", "hardware", "datasets", "launch")
        print(json.dumps({"package": robolearn.__file__, **{n: str(asset_dir(n)) for n in names}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "AMENT_PREFIX_PATH"}}
    return json.loads(_run([str(python), "-c", code], cwd=cwd, env=env).stdout)


def test_installed_wheel_finds_assets_under_share(installed, tmp_path):
    prefix = installed["prefix"].resolve()
    found = _probe(installed["python"], cwd=tmp_path)

    assert Path(found["package"]).resolve().is_relative_to(prefix), found["package"]
    for name in ASSET_DIRS:
        assert Path(found[name]).resolve() == prefix / "share" / "robolearn" / name
    share = prefix / "share" / "robolearn"
    for rel in REQUIRED:
        assert (share / rel).is_file(), f"{rel} not installed"
    assert (share / "package.xml").is_file()
    assert (prefix / "share/ament_index/resource_index/packages/robolearn").is_file()
    assert (prefix / "bin" / "robolearn").is_file(), "console script not installed"


def test_every_asset_and_package_file_is_installed(installed):
    """Nested asset files keep their layout; non-Python package files ship too."""
    prefix = installed["prefix"]
    share = prefix / "share" / "robolearn"
    site_packages = Path(
        _run(
            [str(installed["python"]), "-c", "import robolearn, os; print(robolearn.__path__[0])"],
            cwd=prefix,
        ).stdout.strip()
    ).parent
    missing = []
    for rel in installed["files"]:
        top = rel.split("/", 1)[0]
        if _is_junk(rel):
            continue
        if top in ASSET_DIRS and not (share / rel).is_file():
            missing.append(f"share/robolearn/{rel}")
        if top == "robolearn" and not (site_packages / rel).is_file():
            missing.append(rel)
    assert not missing, f"not installed: {missing}"


def test_package_xml_version_matches_distribution():
    import xml.etree.ElementTree as ET

    import robolearn

    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "robolearn"
    assert root.findtext("version") == robolearn.__version__
