"""RobotArena-style real-to-sim evaluation (Jangir et al., 2025, "RobotArena infinity").

- `reconstruct`: a twin scene spec (JSON) from a recorded episode (joint states + fiducials
  seen through calibrated cameras); `calibrate`: `hardware/cameras.yaml`, OpenCV intrinsics
  and hand-eye calibration; `markers`: ArUco fiducials (`hardware/fiducials.yaml`).
- `perturb`: perturbation axes (registry `PERTURBATIONS`) and named suites.
- `policies`: the policy interface and spec strings (`expert`, `noisy_expert:0.3`, `random`,
  `rlpd:PATH`, `module.path:factory`).
- `runner`: resumable evaluation over policies x scenes x conditions x seeds (serial, local
  processes or Ray).
- `scoring`, `ranking`, `preferences`: scores, automatic and human pairwise preferences,
  Bradley-Terry with bootstrap intervals, Elo.
- `metrics`: real-vs-sim agreement (Pearson r, MMRV); `report`: the HTML report.
"""
