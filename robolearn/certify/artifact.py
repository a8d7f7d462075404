"""The certificate artifact: a JSON file beside the policy checkpoint.

``policy.safetensors`` -> ``policy.cert.json``::

    {
      "format": "robolearn.certificate", "format_version": 1,
      "policy": "policy.safetensors",
      "policy_sha256": "<sha256 of the checkpoint file's bytes>",
      "lipschitz": {"certified_upper": 49.99, "method": "product", "product": ...,
                    "combettes_pesquet": ..., "empirical_lower": 31.2, "norm": "l2",
                    "input": "obs['state'] (raw units)", "output": "action in [-1, 1]^7"},
      "epsilon": 0.01, "certified_action_deviation": 0.4999,
      "closed_loop": {... `ClosedLoopCheck.as_dict()` ...} | null,
      "smoothing": {"sigma": ..., "confidence": ..., "rows": [...]} | null,
      "sigma": 0.01 | null, "confidence": 0.95 | null,
      "task": "pick_cube", "dataset": "...", "created": "2026-...Z", "robolearn_version": "..."
    }

`verify_certificate` recomputes the hash and the certified Lipschitz bound from the weights
(exact spectral norms; cheap and deterministic) and compares; the Monte Carlo parts (closed-loop
attack, smoothing) are reported as recorded, and re-run on request (``rerun=True``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robolearn.certify.bounds import certify_lipschitz
from robolearn.certify.policy import CertifiablePolicy, load_policy, resolve_policy_path

log = logging.getLogger(__name__)

CERT_FORMAT = "robolearn.certificate"
CERT_VERSION = 1
BOUND_RTOL = 1e-6
DEFAULT_EPSILON = 0.01  # recomputed vs recorded bound (same float64 SVDs: agree to rounding)


def certificate_path(policy_path: str | Path) -> Path:
    """``policy.safetensors`` -> ``policy.cert.json`` (same folder; for a learner checkpoint
    directory, beside its ``agent.safetensors``)."""
    p = resolve_policy_path(policy_path) if Path(policy_path).is_dir() else Path(policy_path)
    return p.with_name(p.stem + ".cert.json")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_certificate(
    policy_path: str | Path,
    *,
    epsilon: float | None = None,
    closed_loop: dict[str, Any] | None = None,
    smoothing: dict[str, Any] | None = None,
    empirical_lower: float | None = None,
    task: str | None = None,
    dataset: str | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Compute the Lipschitz certificate of a checkpoint and (by default) write it beside it.

    ``closed_loop`` / ``smoothing`` are the ``as_dict()`` of a `ClosedLoopCheck` /
    `SmoothingCertificate` when those were run; ``empirical_lower`` an already measured lower bound.
    Parts not given are kept from an existing certificate of the same weights (same sha256);
    ``epsilon=None`` keeps its epsilon (else 0.01).
    """
    from robolearn import __version__

    policy_path = resolve_policy_path(policy_path)
    policy = load_policy(policy_path)
    report = certify_lipschitz(policy.network)
    info = policy.metadata
    digest = file_sha256(policy_path)
    try:  # keep the parts of a current certificate that this call does not redo
        old = read_certificate(policy_path)
    except (FileNotFoundError, ValueError):
        old = {}
    if old.get("policy_sha256") != digest:
        old = {}
    if epsilon is None:
        epsilon = float(old.get("epsilon", DEFAULT_EPSILON))
    if closed_loop is None and old.get("epsilon") == epsilon:
        closed_loop = old.get("closed_loop")  # a check at another epsilon is dropped
    smoothing = smoothing if smoothing is not None else old.get("smoothing")
    if empirical_lower is None:
        empirical_lower = (old.get("lipschitz") or {}).get("empirical_lower")
    lipschitz = {
        **report.as_dict(),
        "empirical_lower": empirical_lower,
        "norm": "l2",
        "input": f"obs[{policy.obs_key!r}] (raw units)",
        "output": f"action in [{policy.action_low:g}, {policy.action_high:g}]^d",
    }
    cert: dict[str, Any] = {
        "format": CERT_FORMAT,
        "format_version": CERT_VERSION,
        "policy": policy_path.name,
        "policy_sha256": digest,
        "lipschitz": lipschitz,
        "epsilon": float(epsilon),
        "certified_action_deviation": report.certified_upper * float(epsilon),
        "closed_loop": closed_loop,
        "smoothing": smoothing,
        "sigma": smoothing.get("sigma") if smoothing else None,
        "confidence": smoothing.get("confidence") if smoothing else None,
        "task": task or info.get("task"),
        "dataset": dataset or info.get("dataset"),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "robolearn_version": __version__,
    }
    if write:
        out = certificate_path(policy_path)
        out.write_text(json.dumps(cert, indent=2, default=_json_default) + "\n")
        log.info("wrote %s (L <= %.4g)", out, report.certified_upper)
    return cert


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def read_certificate(policy_path: str | Path) -> dict[str, Any]:
    """The certificate beside ``policy_path``; FileNotFoundError if there is none."""
    path = certificate_path(policy_path)
    if not path.is_file():
        raise FileNotFoundError(f"no certificate {path} beside {policy_path}")
    try:
        cert = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(cert, dict) or cert.get("format") != CERT_FORMAT:
        raise ValueError(f"{path} is not a {CERT_FORMAT} file")
    if int(cert.get("format_version", 0)) > CERT_VERSION:
        raise ValueError(
            f"{path}: certificate format {cert['format_version']} is newer than {CERT_VERSION}"
        )
    return cert


@dataclass
class Verification:
    """What `verify_certificate` found. ``ok`` only if every check passed."""

    policy: str
    certificate: str
    problems: list[str] = field(default_factory=list)
    recorded_bound: float | None = None
    recomputed_bound: float | None = None
    hash_ok: bool = False
    bound_ok: bool = False
    reruns: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = "OK" if self.ok else "FAILED"
        lines = [f"{head}: {self.certificate}"]
        lines.append(f"  policy hash: {'matches' if self.hash_ok else 'MISMATCH'}")
        if self.recomputed_bound is not None:
            lines.append(
                f"  Lipschitz bound: recorded {self.recorded_bound:.6g}, recomputed "
                f"{self.recomputed_bound:.6g} ({'matches' if self.bound_ok else 'MISMATCH'})"
            )
        for key, value in self.reruns.items():
            lines.append(f"  re-run {key}: {value}")
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def verify_certificate(
    policy_path: str | Path,
    *,
    rerun: bool = False,
    env: Any = None,
    episodes: int = 3,
) -> Verification:
    """Recompute the checkpoint's hash and certified bound and compare with the certificate.

    With ``rerun`` (and a twin ``env``), also re-run the closed-loop PGD check at the recorded
    epsilon: the attack must stay within the certificate."""
    policy_path = (
        resolve_policy_path(policy_path) if Path(policy_path).is_dir() else Path(policy_path)
    )
    result = Verification(str(policy_path), str(certificate_path(policy_path)))
    try:
        cert = read_certificate(policy_path)
    except (FileNotFoundError, ValueError) as exc:
        result.problems.append(f"missing or unreadable certificate: {exc}")
        return result
    if not policy_path.is_file():
        result.problems.append(f"missing policy checkpoint {policy_path}")
        return result
    result.hash_ok = file_sha256(policy_path) == cert.get("policy_sha256")
    if not result.hash_ok:
        result.problems.append(
            "stale: the checkpoint's sha256 differs from the certificate's (weights changed "
            "after certification); run `robolearn certify bound --policy ... --write`"
        )
    policy: CertifiablePolicy | None = None
    try:
        policy = load_policy(policy_path)
        recomputed = certify_lipschitz(policy.network).certified_upper
    except Exception as exc:  # noqa: BLE001 - any failure to read is a failed verification
        result.problems.append(f"could not recompute the bound: {exc}")
        return result
    recorded = float(cert.get("lipschitz", {}).get("certified_upper", math.nan))
    result.recorded_bound, result.recomputed_bound = recorded, recomputed
    result.bound_ok = math.isfinite(recorded) and recomputed <= recorded * (1 + BOUND_RTOL)
    if not result.bound_ok:
        result.problems.append(
            f"bound mismatch: the weights give L <= {recomputed:.6g}, the certificate claims "
            f"{recorded:.6g}"
        )
    dev = cert.get("certified_action_deviation")
    eps = float(cert.get("epsilon", 0.0))
    if dev is not None and float(dev) + 1e-12 < recomputed * eps * (1 - BOUND_RTOL):
        result.problems.append(
            f"certified_action_deviation {dev} is below L * epsilon = {recomputed * eps:.6g}"
        )
    if rerun and env is not None and eps > 0:
        from robolearn.certify.closed_loop import check_closed_loop

        check = check_closed_loop(
            policy, env, epsilon=eps, lipschitz_bound=recomputed, episodes=episodes
        )
        result.reruns["closed_loop"] = (
            f"max PGD deviation {check.max_attack_deviation:.4g} <= certified "
            f"{check.certified_action_deviation:.4g}: {check.holds}"
        )
        if not check.holds:
            result.problems.append(f"closed-loop check failed: {check.violations} violations")
    return result
