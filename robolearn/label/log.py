"""The label log: an append-only JSON-lines file, one record per answer, fsynced on write.

A record is ``{"pair_id", "choice", "labeller", "time", "meta"}`` with ``choice`` one of
``left``, ``right``, ``equal``, ``skip``. The newest record of a pair wins, so a relabel is just
another line. Each record is written with a single ``write`` on a file opened ``O_APPEND`` and
fsynced before the call returns: a crash loses at most the line being written, and a torn last
line is ignored (with a warning) when the log is read back.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHOICES = ("left", "right", "equal", "skip")


@dataclass(frozen=True)
class LabelRecord:
    """One answer to one pair."""

    pair_id: str
    choice: str
    labeller: str = "anonymous"
    time: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
    )
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}; got {self.choice!r}")
        if not self.pair_id:
            raise ValueError("pair_id must be a non-empty string")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(raw: dict[str, Any]) -> LabelRecord:
        return LabelRecord(
            pair_id=str(raw["pair_id"]),
            choice=str(raw["choice"]),
            labeller=str(raw.get("labeller", "anonymous")),
            time=str(raw.get("time", "")),
            meta=dict(raw.get("meta") or {}),
        )


class LabelLog:
    """Append-only JSONL of `LabelRecord`s at ``path`` (created with its folder on first write).

    Safe for the threads of one server process (a lock around appends); one writing process
    at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: LabelRecord) -> None:
        """Write one record durably (returns after fsync)."""
        line = (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size and not self._ends_with_newline():
                    os.write(fd, b"\n")  # a torn line from a crash stays alone on its line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def extend(self, records: list[LabelRecord]) -> None:
        for record in records:
            self.append(record)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def records(self) -> list[LabelRecord]:
        """Every record in write order (unparseable lines are skipped with a warning)."""
        if not self.path.exists():
            return []
        out: list[LabelRecord] = []
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(LabelRecord.from_json(json.loads(line)))
                except (json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
                    log.warning(
                        "%s:%d: skipped an unreadable label line (%s)", self.path, number, err
                    )
        return out

    def latest(self) -> dict[str, LabelRecord]:
        """The newest record per pair id."""
        return {r.pair_id: r for r in self.records()}
