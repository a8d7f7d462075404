"""Certified policies: Lipschitz-bounded networks and bounds, Lipschitz-constrained behaviour
cloning, closed-loop and policy-smoothing certificates, the certificate artifact and the
deployment gate.

- `robolearn.certify.layers`: 1-Lipschitz blocks (spectral, orthogonal, AOL, SLL, GroupSort) and
  `LipschitzMLP` with a hard constant ``L``.
- `robolearn.certify.bounds`: certified upper bounds (exact spectral norms; Combettes-Pesquet)
  and an empirical lower bound (PGD on input pairs).
- `robolearn.certify.bc`: Lipschitz-constrained behaviour cloning on twin demos.
- `robolearn.certify.policy`: certifiable policies from checkpoints (BC and RLPD actors).
- `robolearn.certify.closed_loop`: ``||da|| <= L eps`` checked in the twin against PGD.
- `robolearn.certify.smoothing`: policy smoothing certificates (Kumar, Levine, Feizi 2022).
- `robolearn.certify.artifact` / `gate`: the JSON certificate and `require_certificate`.
- `robolearn.certify.report`: the L sweep report.
"""
