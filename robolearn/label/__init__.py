"""A generic labelling web page: pairs of clips + a question, answered left/right/equal/skip.

Python API (PEARL's preferences and the arena's policy comparisons both use it):

- `PairSet(question, [LabelPair(pair_id, left, right, meta)])`, `PairSet.load/save` (JSON
  manifest), `write_webm(frames, path, fps)` to make clips Chromium plays.
- `LabelLog(path)`: the append-only, fsynced JSONL of `LabelRecord(pair_id, choice, labeller,
  time, meta)`; `latest()` gives the newest answer per pair.
- `create_app(pairs, log, token=None)` (a FastAPI app, e.g. for `TestClient`) and
  `serve(pairs, log, host="127.0.0.1", port=8765, token=None)`.
"""

from robolearn.label.app import LabelServerError, check_binding, create_app, serve
from robolearn.label.log import CHOICES, LabelLog, LabelRecord
from robolearn.label.pairs import LabelPair, ManifestError, PairSet, write_webm

__all__ = [
    "CHOICES",
    "LabelLog",
    "LabelPair",
    "LabelRecord",
    "LabelServerError",
    "ManifestError",
    "PairSet",
    "check_binding",
    "create_app",
    "serve",
    "write_webm",
]
