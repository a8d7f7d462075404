"""What a labelling session shows: pairs of videos and one question (a JSON manifest).

    {"question": "Which robot is closer to finishing the task?",
     "pairs": [{"id": "p0", "left": "videos/p0_a.webm", "right": "videos/p0_b.webm",
                "meta": {...anything the caller wants back with the label...}}]}

Video paths are relative to the manifest's folder (or absolute). WebM (VP8) plays in every
Chromium build; H.264 MP4 needs proprietary codecs that Debian's `chromium` lacks, so
`write_webm` is the writer to use. GIF/PNG/JPEG "videos" are shown as images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

VIDEO_TYPES = {".webm": "video/webm", ".mp4": "video/mp4", ".ogv": "video/ogg"}
IMAGE_TYPES = {".gif": "image/gif", ".png": "image/png", ".jpg": "image/jpeg"}


class ManifestError(ValueError):
    """The pair manifest is malformed; the message says which entry."""


@dataclass(frozen=True)
class LabelPair:
    """Two clips to compare. ``meta`` is copied into every label record of the pair."""

    pair_id: str
    left: Path
    right: Path
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairSet:
    """The question and the pairs of one labelling session."""

    question: str
    pairs: list[LabelPair]

    def __post_init__(self) -> None:
        ids = [p.pair_id for p in self.pairs]
        if len(set(ids)) != len(ids):
            raise ManifestError("pair ids must be unique")
        for p in self.pairs:
            for side in (p.left, p.right):
                if side.suffix.lower() not in VIDEO_TYPES | IMAGE_TYPES:
                    raise ManifestError(
                        f"pair {p.pair_id!r}: {side.name} is not a known video/image type"
                        f" ({', '.join(VIDEO_TYPES | IMAGE_TYPES)})"
                    )

    def by_id(self) -> dict[str, LabelPair]:
        return {p.pair_id: p for p in self.pairs}

    def save(self, path: str | Path) -> Path:
        """Write the manifest; clip paths are stored relative to its folder when inside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = path.parent.resolve()

        def rel(p: Path) -> str:
            p = p.resolve()
            return str(p.relative_to(base)) if p.is_relative_to(base) else str(p)

        raw = {
            "question": self.question,
            "pairs": [
                {"id": p.pair_id, "left": rel(p.left), "right": rel(p.right), "meta": p.meta}
                for p in self.pairs
            ],
        }
        path.write_text(json.dumps(raw, indent=1))
        return path

    @staticmethod
    def load(path: str | Path) -> PairSet:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest") from None
        except json.JSONDecodeError as err:
            raise ManifestError(f"{path}: not JSON ({err})") from err
        if not isinstance(raw, dict) or "pairs" not in raw:
            raise ManifestError(f"{path}: expected an object with 'question' and 'pairs'")
        pairs = []
        for i, entry in enumerate(raw["pairs"]):
            try:
                left, right = Path(entry["left"]), Path(entry["right"])
                pairs.append(
                    LabelPair(
                        pair_id=str(entry["id"]),
                        left=left if left.is_absolute() else path.parent / left,
                        right=right if right.is_absolute() else path.parent / right,
                        meta=dict(entry.get("meta") or {}),
                    )
                )
            except (KeyError, TypeError) as err:
                raise ManifestError(
                    f"{path}: pair #{i} lacks {err} (needs id, left, right)"
                ) from err
        return PairSet(question=str(raw.get("question", "Which is better?")), pairs=pairs)


def write_webm(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    """Write RGB uint8 frames (H, W, 3) as WebM/VP8 (plays in Chromium without extra codecs)."""
    out = Path(path)
    if not len(frames):
        raise ValueError("no frames to write")
    if out.suffix.lower() != ".webm":
        raise ValueError(f"{out}: the file name must end in .webm")
    out.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"VP80"), float(fps), (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write VP8 WebM to {out} (its FFmpeg lacks libvpx?)")
    try:
        for frame in frames:
            writer.write(
                cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2BGR)
            )
    finally:
        writer.release()
    return out
