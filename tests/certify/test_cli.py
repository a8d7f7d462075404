"""`robolearn certify ...` end to end on the reach twin (tiny budgets)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robolearn.cli.main import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certify") / "reach_L10.safetensors"
    code = main(
        [
            "certify",
            "train-bc",
            "--task",
            "reach",
            "--lipschitz",
            "10",
            "--demos",
            "3",
            "--steps",
            "100",
            "--hidden",
            "16",
            "16",
            "--eval-episodes",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_train_bc_writes_policy_and_certificate(trained: Path, capsys) -> None:
    assert trained.is_file() and trained.with_name("reach_L10.cert.json").is_file()


def test_bound_verify_and_tamper(trained: Path, capsys) -> None:
    assert (
        main(
            [
                "certify",
                "bound",
                "--policy",
                str(trained),
                "--lower-bound-episodes",
                "1",
                "--closed-loop-episodes",
                "1",
                "--epsilon",
                "0.02",
                "--write",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "certified upper bound" in out and "holds" in out
    assert main(["certify", "verify", "--policy", str(trained)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["certify", "gate", "--policy", str(trained)]) == 0
    assert "ACCEPTED" in capsys.readouterr().out
    assert main(["certify", "gate", "--policy", str(trained), "--max-lipschitz", "0.001"]) == 1
    assert "REFUSED (above_limit)" in capsys.readouterr().out
    data = bytearray(trained.read_bytes())
    data[-5] ^= 0x10
    tampered = trained.with_name("tampered.safetensors")
    tampered.write_bytes(bytes(data))
    trained.with_name("reach_L10.cert.json").replace(tampered.with_name("tampered.cert.json"))
    assert main(["certify", "verify", "--policy", str(tampered)]) == 1
    assert "stale" in capsys.readouterr().out


def test_smoothing_prints_the_table_and_plots(trained: Path, capsys) -> None:
    png = trained.with_name("smooth.png")
    code = main(
        [
            "certify",
            "smoothing",
            "--policy",
            str(trained),
            "--sigma",
            "0.01",
            "--budget",
            "0.02",
            "--points",
            "3",
            "--episodes",
            "2",
            "--reward",
            "dense",
            "--nu",
            "1",
            "5",
            "--out",
            str(png),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "budget B" in out and "E[return] >=" in out and "P(R>=5) >=" in out
    assert png.is_file() and png.stat().st_size > 1000


def test_report_tiny_profile(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert (
        main(["certify", "report", "--task", "reach", "--profile", "tiny", "--out", str(out)]) == 0
    )
    md = (out / "report.md").read_text()
    assert md.count("\n| ") >= 3  # header + 2 budgets
    assert (out / "l_sweep.png").stat().st_size > 1000
    assert len(list((out / "policies").glob("*.cert.json"))) == 2
