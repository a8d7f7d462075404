"""Pieces of the demo's stages that the quick demo does not reach."""

from __future__ import annotations

from robolearn.demo.stages import _run_parallel


def test_run_parallel_keeps_the_jobs_order_across_processes():
    """The PEARL stage trains its transferred- and oracle-label learners side by side."""
    jobs = [{"a": 1}, {"b": 2}, {"c": 3}]
    assert _run_parallel(dict, jobs, processes=2) == jobs
    assert _run_parallel(dict, jobs, processes=1) == jobs
