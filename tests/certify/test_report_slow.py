"""The pick_cube L sweep with the `quick` profile (a few minutes; `pytest -m slow`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from robolearn.certify.report import run_sweep, write_report

torch.set_num_threads(1)


@pytest.mark.slow
def test_pick_cube_quick_sweep(tmp_path: Path) -> None:
    result = run_sweep("pick_cube", "quick", tmp_path, progress=False)
    md, png = write_report(result, tmp_path)
    assert md.is_file() and png.stat().st_size > 1000
    rows = {r.lipschitz_target: r for r in result.rows}
    assert set(rows) == {5.0, 20.0, 100.0, math.inf}
    for row in result.rows:
        assert row.violations == 0  # no attack beat L * eps
        assert row.empirical_lower <= row.certified_upper
        if math.isfinite(row.lipschitz_target):
            assert row.certified_upper <= row.lipschitz_target * (1 + 1e-4)
    # BC learned pick_cube: the best policy solves most clean episodes
    assert max(r.success_nominal for r in result.rows) >= 0.6
    # the attack cannot do better against the tight policy than against the unconstrained one
    assert rows[5.0].max_attack_deviation < rows[math.inf].max_attack_deviation
