"""Preference pairs stored beside a dataset: ``<dataset>.preferences/<name>.jsonl``.

The file is a `robolearn.label.LabelLog`: the labelling page writes it directly, and so do the
scripted labeller and `robolearn pearl transfer`. Each record's ``meta`` holds the two segments
(``a`` shown left, ``b`` right) and ``choice`` the answer; as a number, ``label`` is the
probability that ``a`` is preferred: left 1.0, equal 0.5, right 0.0 (skips are dropped).
Transferred labels are fractional: their records carry ``meta.label`` and
``meta.confidence`` with ``choice`` the nearest answer.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.label.log import LabelLog, LabelRecord
from robolearn.preference.segments import SegmentRef

CHOICE_TO_LABEL = {"left": 1.0, "equal": 0.5, "right": 0.0}


def preference_dir(dataset: str | Path) -> Path:
    """The folder beside ``dataset`` that holds its preference files."""
    dataset = Path(dataset)
    return dataset.with_name(dataset.name + ".preferences")


def preference_path(dataset: str | Path, name: str = "human") -> Path:
    """``<dataset>.preferences/<name>.jsonl``."""
    if not name or "/" in name:
        raise ValueError(f"preference set name must be a plain file name, got {name!r}")
    return preference_dir(dataset) / f"{name}.jsonl"


@dataclass(frozen=True)
class PreferencePair:
    """Segment ``a`` vs segment ``b``; ``label`` = P(a preferred) in [0, 1]."""

    a: SegmentRef
    b: SegmentRef
    label: float
    labeller: str = "unknown"
    time: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
    )
    confidence: float = 1.0
    pair_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if not 0.0 <= self.label <= 1.0 or not np.isfinite(self.label):
            raise ValueError(f"label must be in [0, 1], got {self.label}")

    def to_record(self) -> LabelRecord:
        choice = "left" if self.label > 0.5 else "right" if self.label < 0.5 else "equal"
        meta: dict[str, Any] = {"a": self.a.to_json(), "b": self.b.to_json()}
        if self.label not in CHOICE_TO_LABEL.values() or self.confidence != 1.0:
            meta.update(label=float(self.label), confidence=float(self.confidence))
        return LabelRecord(self.pair_id, choice, self.labeller, self.time, meta)

    @staticmethod
    def from_record(record: LabelRecord) -> PreferencePair | None:
        """None for skips and for records without segments (not a preference record)."""
        if record.choice == "skip" or "a" not in record.meta or "b" not in record.meta:
            return None
        label = float(record.meta.get("label", CHOICE_TO_LABEL[record.choice]))
        return PreferencePair(
            a=SegmentRef.from_json(record.meta["a"]),
            b=SegmentRef.from_json(record.meta["b"]),
            label=label,
            labeller=record.labeller,
            time=record.time,
            confidence=float(record.meta.get("confidence", 1.0)),
            pair_id=record.pair_id,
        )


def save_pairs(path: str | Path, pairs: list[PreferencePair]) -> Path:
    """Append ``pairs`` to the preference file at ``path``."""
    log = LabelLog(path)
    log.extend([p.to_record() for p in pairs])
    return log.path


def load_pairs(path: str | Path) -> list[PreferencePair]:
    """The newest answer per pair, skips dropped, in first-seen order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no preference file (label pairs first)")
    latest = LabelLog(path).latest()
    out = [PreferencePair.from_record(r) for r in latest.values()]
    return [p for p in out if p is not None]
