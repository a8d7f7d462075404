"""Computes the data files; all other metadata lives in pyproject.toml.

The asset folders sim/, hardware/, datasets/ and launch/ install under
<prefix>/share/robolearn/<folder>/ with their nesting kept (ROS convention), next to the ament
index marker and package.xml. A static `[tool.setuptools.data-files]` table cannot do this: it
flattens every glob into one destination folder, so each nested folder (a zarr dataset has many)
would need its own hand-kept entry.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
ASSET_DIRS = ("sim", "hardware", "datasets", "launch")
SHARE = "share/robolearn"


def _is_junk(rel: Path) -> bool:
    """Hidden files, caches and bytecode are never installed."""
    return rel.suffix in {".pyc", ".pyo"} or any(
        part.startswith(".") or part == "__pycache__" for part in rel.parts
    )


def asset_data_files() -> list[tuple[str, list[str]]]:
    """One (destination folder, [source files]) entry per folder under the asset folders."""
    groups: dict[str, list[str]] = {}
    for top in ASSET_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not _is_junk(rel):
                groups.setdefault(f"{SHARE}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return sorted(groups.items())


setup(
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/robolearn"]),
        (SHARE, ["package.xml"]),
        *asset_data_files(),
    ],
)
