"""The certificate artifact and the deployment gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robolearn.certify.artifact import (
    certificate_path,
    create_certificate,
    read_certificate,
    verify_certificate,
)
from robolearn.certify.gate import CertificateRefused, CertificationConfig, require_certificate
from robolearn.certify.layers import LipschitzMLP
from robolearn.certify.policy import load_policy, save_bc_policy

torch.set_num_threads(1)


@pytest.fixture
def certified(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = LipschitzMLP(35, 7, (32, 32), lipschitz=20.0)
    torch.nn.init.orthogonal_(net.body[-1].weight)  # a trained-size last layer: L close to 20
    path = save_bc_policy(net, tmp_path / "policy.safetensors", task="pick_cube", dataset="unit")
    create_certificate(path, epsilon=0.01)
    return path


def test_certificate_fields(certified: Path) -> None:
    cert = read_certificate(certified)
    assert certificate_path(certified).name == "policy.cert.json"
    for key in (
        "policy_sha256",
        "lipschitz",
        "epsilon",
        "sigma",
        "confidence",
        "dataset",
        "created",
    ):
        assert key in cert
    assert cert["lipschitz"]["certified_upper"] <= 20.0 * (1 + 1e-4)
    assert cert["certified_action_deviation"] == pytest.approx(
        cert["lipschitz"]["certified_upper"] * 0.01
    )
    assert cert["task"] == "pick_cube" and cert["dataset"] == "unit"
    assert verify_certificate(certified).ok


def test_gate_accepts_a_valid_certificate(certified: Path) -> None:
    cfg = CertificationConfig(max_lipschitz=25.0)
    cert = require_certificate(certified, "franka", cfg)
    assert cert is not None and cert["policy_sha256"]
    assert require_certificate(certified, "twin", cfg) is not None


def test_gate_refuses_a_missing_certificate_on_franka_only(certified: Path) -> None:
    certificate_path(certified).unlink()
    with pytest.raises(CertificateRefused, match="missing") as info:
        require_certificate(certified, "franka")
    assert info.value.reason == "missing"
    assert require_certificate(certified, "twin") is None  # the twin runs uncertified policies
    assert require_certificate(certified, "franka", CertificationConfig(required=False)) is None


def test_gate_refuses_a_tampered_checkpoint(certified: Path) -> None:
    policy = load_policy(certified)
    with torch.no_grad():
        policy.network.body[0].weight.mul_(1.001)  # a quiet change of weights
    save_bc_policy(policy.network, certified, task="pick_cube", dataset="unit")
    with pytest.raises(CertificateRefused, match="stale") as info:
        require_certificate(certified, "franka")
    assert info.value.reason == "stale"
    result = verify_certificate(certified)
    assert not result.ok and not result.hash_ok


def test_gate_refuses_a_flipped_byte(certified: Path) -> None:
    data = bytearray(certified.read_bytes())
    data[-3] ^= 0x01
    certified.write_bytes(bytes(data))
    with pytest.raises(CertificateRefused) as info:
        require_certificate(certified, "franka")
    assert info.value.reason == "stale"


def test_gate_refuses_an_edited_bound(certified: Path) -> None:
    path = certificate_path(certified)
    cert = json.loads(path.read_text())
    cert["lipschitz"]["certified_upper"] = 1.0  # claims a much smaller constant
    path.write_text(json.dumps(cert))
    with pytest.raises(CertificateRefused, match="claims") as info:
        require_certificate(certified, "franka")
    assert info.value.reason == "invalid"
    assert not verify_certificate(certified).bound_ok


def test_gate_refuses_a_bound_above_the_configured_limit(certified: Path) -> None:
    with pytest.raises(CertificateRefused, match="max_lipschitz") as info:
        require_certificate(certified, "franka", CertificationConfig(max_lipschitz=10.0))
    assert info.value.reason == "above_limit"
    # the same policy runs on the twin (logged, not refused)
    assert require_certificate(certified, "twin", CertificationConfig(max_lipschitz=10.0)) is None


def test_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("certification:\n  required: true\n  max_lipschitz: 40\n")
    cfg = CertificationConfig.from_yaml(path)
    assert cfg.required and cfg.max_lipschitz == 40.0 and cfg.hardware_backends == ("franka",)
    (tmp_path / "other.yaml").write_text("learner: {}\n")
    assert CertificationConfig.from_yaml(tmp_path / "other.yaml") == CertificationConfig()
    (tmp_path / "bad.yaml").write_text("certification:\n  max_lipshitz: 40\n")
    with pytest.raises(ValueError, match="unknown certification setting"):
        CertificationConfig.from_yaml(tmp_path / "bad.yaml")


def test_certificate_parts_are_merged_for_the_same_weights(certified: Path) -> None:
    smoothing = {"sigma": 0.01, "confidence": 0.95, "rows": []}
    create_certificate(certified, smoothing=smoothing)
    create_certificate(certified, epsilon=0.01, closed_loop={"violations": 0, "epsilon": 0.01})
    cert = read_certificate(certified)
    assert cert["smoothing"] == smoothing and cert["sigma"] == 0.01
    assert cert["closed_loop"]["violations"] == 0
    create_certificate(certified, epsilon=0.05)  # a new epsilon drops the old closed-loop check
    cert = read_certificate(certified)
    assert cert["closed_loop"] is None and cert["smoothing"] == smoothing
