"""The deployment gate: no uncertified policy moves the real arm.

The actor path calls `require_certificate` before it loads a policy::

    from robolearn.certify.gate import CertificationConfig, require_certificate

    cfg = CertificationConfig.from_yaml("run.yaml")    # its `certification:` section, or defaults
    require_certificate(policy_path, backend="franka", config=cfg)   # raises CertificateRefused

On a hardware backend (``config.hardware_backends``, default ``("franka",)``) with
``config.required`` it refuses, raising `CertificateRefused` whose ``reason`` is one of

- ``missing``: no ``<policy>.cert.json`` beside the checkpoint (or it is unreadable);
- ``stale``: the checkpoint's sha256 differs from the one certified (weights changed);
- ``invalid``: the bound recomputed from the weights is larger than the certificate claims
  (a hand-edited certificate), or the weights cannot be read;
- ``above_limit``: the certified Lipschitz bound exceeds ``config.max_lipschitz``.

On any other backend (``twin``, ``fake_franka``...) it logs what it found and returns. The
settings are not in ``hardware/franka.yaml`` (whose loader is strict): they are a
``certification:`` section of the run's own YAML, for example::

    certification:
      required: true            # refuse uncertified policies on hardware backends
      max_lipschitz: 60.0       # l2 constant, obs['state'] (raw units) -> action in [-1, 1]^7
      hardware_backends: [franka]
      recompute_bound: true     # recompute the bound from the weights (catches edited JSON)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from robolearn.certify.artifact import (
    BOUND_RTOL,
    certificate_path,
    file_sha256,
    read_certificate,
)

log = logging.getLogger(__name__)

REASONS = ("missing", "stale", "invalid", "above_limit")


class CertificateRefused(RuntimeError):
    """The gate refused a policy; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"deployment refused ({reason}): {message}")
        self.reason = reason


@dataclass(kw_only=True)
class CertificationConfig:
    """Settings of the deployment gate (a ``certification:`` section of a run YAML)."""

    required: bool = True
    # The largest certified Lipschitz constant allowed on hardware (None: any certified bound
    # passes). 50: where certified BC on pick_cube kept 0.95 clean / 0.90 noisy success in the
    # L sweep (README, certification); a tighter cell sets its own.
    max_lipschitz: float | None = 50.0
    hardware_backends: tuple[str, ...] = ("franka",)
    recompute_bound: bool = True

    def __post_init__(self) -> None:
        self.hardware_backends = tuple(str(b) for b in self.hardware_backends)
        if self.max_lipschitz is not None:
            self.max_lipschitz = float(self.max_lipschitz)
            if not self.max_lipschitz > 0:
                raise ValueError(
                    f"certification.max_lipschitz must be positive, got {self.max_lipschitz}"
                )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> CertificationConfig:
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown certification setting(s) {unknown}; known: {sorted(known)}")
        return cls(**raw)

    @classmethod
    def from_yaml(cls, path: str | Path, section: str = "certification") -> CertificationConfig:
        """The ``section`` of a YAML file (defaults where the file has no such section)."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data.get(section))


def require_certificate(
    policy_path: str | Path,
    backend: str,
    config: CertificationConfig | None = None,
) -> dict[str, Any] | None:
    """Refuse (raise `CertificateRefused`) to run ``policy_path`` on a hardware ``backend``
    unless a valid, current certificate within ``config.max_lipschitz`` sits beside it.

    Returns the certificate when it was checked and passed; ``None`` when no certificate is
    needed (a simulated backend, or ``required: false``) and none could be read.
    """
    cfg = config or CertificationConfig()
    policy_path = Path(policy_path)
    if policy_path.is_dir():  # a learner checkpoint directory: its agent.safetensors
        from robolearn.certify.policy import resolve_policy_path

        try:
            policy_path = resolve_policy_path(policy_path)
        except FileNotFoundError:
            pass  # reported as missing below
    enforce = cfg.required and backend in cfg.hardware_backends
    try:
        cert = _check(policy_path, cfg)
    except CertificateRefused as exc:
        if enforce:
            log.error("%s", exc)
            raise
        log.warning("backend %r: %s (allowed: not a gated backend)", backend, exc)
        return None
    log.info(
        "certificate %s accepted for backend %r: L <= %.4g",
        certificate_path(policy_path),
        backend,
        cert["lipschitz"]["certified_upper"],
    )
    return cert


def _check(policy_path: Path, cfg: CertificationConfig) -> dict[str, Any]:
    if not policy_path.is_file():
        raise CertificateRefused("missing", f"no policy checkpoint at {policy_path}")
    try:
        cert = read_certificate(policy_path)
    except (FileNotFoundError, ValueError) as exc:
        raise CertificateRefused(
            "missing",
            f"{exc}; certify it with `robolearn certify bound --policy {policy_path} --write`",
        ) from None
    if file_sha256(policy_path) != cert.get("policy_sha256"):
        raise CertificateRefused(
            "stale",
            f"{policy_path} changed after {certificate_path(policy_path)} was written (sha256 "
            "mismatch); re-certify the new weights",
        )
    try:
        bound = float(cert["lipschitz"]["certified_upper"])
    except (KeyError, TypeError, ValueError):
        raise CertificateRefused(
            "invalid", "the certificate has no lipschitz.certified_upper"
        ) from None
    if not math.isfinite(bound):
        raise CertificateRefused("invalid", f"the certified bound is {bound}")
    if cfg.recompute_bound:
        from robolearn.certify.bounds import certify_lipschitz
        from robolearn.certify.policy import load_policy

        try:
            recomputed = certify_lipschitz(load_policy(policy_path).network).certified_upper
        except Exception as exc:  # noqa: BLE001 - unreadable weights cannot be certified
            raise CertificateRefused("invalid", f"cannot recompute the bound: {exc}") from None
        if recomputed > bound * (1 + BOUND_RTOL):
            raise CertificateRefused(
                "invalid",
                f"the weights give L <= {recomputed:.6g} but the certificate claims {bound:.6g}",
            )
    if cfg.max_lipschitz is not None and bound > cfg.max_lipschitz:
        raise CertificateRefused(
            "above_limit",
            f"certified L <= {bound:.4g} exceeds certification.max_lipschitz = "
            f"{cfg.max_lipschitz:g}; train with a smaller --lipschitz or raise the limit",
        )
    return cert


def require_lipschitz_weights(
    state: Mapping[str, Any],
    rlpd_config: Mapping[str, Any] | str,
    config: CertificationConfig | None = None,
    backend: str = "franka",
) -> float:
    """For weights streamed from a learner (no file, so no hash): the certified bound of the
    RLPD actor in ``state`` (`RLPDAgent.policy_state_dict`, with its `RLPDConfig`), refused with
    ``above_limit`` on a gated backend when it exceeds ``config.max_lipschitz``. Returns it."""
    from robolearn.certify.bounds import certify_lipschitz
    from robolearn.certify.policy import rlpd_policy_from_state

    cfg = config or CertificationConfig()
    bound = certify_lipschitz(rlpd_policy_from_state(state, rlpd_config).network).certified_upper
    gated = cfg.required and backend in cfg.hardware_backends
    if cfg.max_lipschitz is not None and bound > cfg.max_lipschitz:
        message = (
            f"streamed weights have certified L <= {bound:.4g} > certification.max_lipschitz = "
            f"{cfg.max_lipschitz:g}"
        )
        if gated:
            raise CertificateRefused("above_limit", message)
        log.warning("backend %r: %s (allowed: not a gated backend)", backend, message)
    return bound
