"""Real-vs-sim agreement of policy evaluations (SimplerEnv, Li et al. 2024,
"Evaluating Real-World Robot Manipulation Policies in Simulation",
https://arxiv.org/abs/2405.05941).

Given real success rates R and sim success rates S of the same N policies:

- Pearson r between R and S;
- Mean Maximum Rank Violation, MMRV = (1/N) sum_i max_j |R_i - R_j| 1[(S_i > S_j) != (R_i > R_j)]:
  for each policy, the largest real-performance gap to a policy that the simulation orders
  the other way round (0 = the simulation never misorders; lower is better).

Argument order matters for MMRV: the gaps are measured on the *real* rates, so it is
`mmrv(real, sim)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pair(real: Sequence[float], sim: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(real, dtype=np.float64)
    s = np.asarray(sim, dtype=np.float64)
    if r.shape != s.shape or r.ndim != 1:
        raise ValueError(f"real and sim need the same length, got {r.shape} and {s.shape}")
    if len(r) < 2:
        raise ValueError("agreement needs at least two policies")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(s))):
        raise ValueError("success rates must be finite")
    return r, s


def pearson_r(real: Sequence[float], sim: Sequence[float]) -> float:
    """Pearson correlation; NaN when either side has no variance."""
    r, s = _pair(real, sim)
    dr, ds = r - r.mean(), s - s.mean()
    denom = float(np.sqrt((dr**2).sum() * (ds**2).sum()))
    return float((dr * ds).sum() / denom) if denom > 0 else float("nan")


def mmrv(real: Sequence[float], sim: Sequence[float]) -> float:
    """Mean Maximum Rank Violation of `sim` against `real` (see the module docstring)."""
    r, s = _pair(real, sim)
    gap = np.abs(r[:, None] - r[None, :])
    violated = (s[:, None] > s[None, :]) != (r[:, None] > r[None, :])
    return float(np.mean(np.max(gap * violated, axis=1)))
