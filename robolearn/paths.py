"""Where the asset folders live: sim/, hardware/, datasets/ and launch/.

In a source checkout they sit at the repository top, next to `robolearn/`. An installed
distribution carries them under `<prefix>/share/robolearn/<folder>/` (ROS convention), found
through the ament index when `ament_index_python` is importable, else under `sys.prefix`.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

PACKAGE = "robolearn"
ASSET_DIRS = ("sim", "hardware", "datasets", "launch")


def source_root() -> Path | None:
    """The repository root when robolearn runs from a source checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _ament_share() -> tuple[Path | None, str]:
    """The ament share directory of robolearn, and a note on how the look-up went."""
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return None, "ament index: ament_index_python is not importable"
    try:
        return Path(get_package_share_directory(PACKAGE)), "ament index"
    except (LookupError, OSError, ValueError) as exc:  # PackageNotFoundError is a KeyError
        return None, f"ament index: {PACKAGE!r} not found ({exc})"


def _candidates(name: str) -> list[tuple[Path | None, str]]:
    candidates: list[tuple[Path | None, str]] = []
    root = source_root()
    if root is None:
        candidates.append((None, "source checkout: no pyproject.toml next to the package"))
    else:
        candidates.append((root / name, "source checkout"))
    share, note = _ament_share()
    candidates.append((share / name if share else None, note))
    candidates.append((Path(sys.prefix) / "share" / PACKAGE / name, "sys.prefix"))
    user_base = getattr(site, "USER_BASE", None)
    if user_base and Path(user_base) != Path(sys.prefix):
        candidates.append((Path(user_base) / "share" / PACKAGE / name, "user base (pip --user)"))
    return candidates


def asset_dir(name: str) -> Path:
    """The folder holding the asset set `name` ("sim", "hardware", "datasets" or "launch").

    Raises:
        ValueError: `name` is not one of the asset folders.
        FileNotFoundError: no candidate location holds the folder; the message lists them.
    """
    if name not in ASSET_DIRS:
        raise ValueError(f"unknown asset folder {name!r}; expected one of {', '.join(ASSET_DIRS)}")
    tried = []
    for path, where in _candidates(name):
        if path is not None and path.is_dir():
            return path
        tried.append(f"  - {where}: {path}" if path is not None else f"  - {where}")
    raise FileNotFoundError(
        f"robolearn asset folder {name!r} not found. Looked in:\n"
        + "\n".join(tried)
        + "\nRun from a source checkout, or reinstall with `pip install .` (which installs the "
        f"folder under <prefix>/share/{PACKAGE}/{name})."
    )
