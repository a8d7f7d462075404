"""The twin's 1 kHz loop, compiled: physics and the impedance law with no Python per tick.

Each tick does what the torque-mode hardware loop does: read the state (MuJoCo's `mj_step1`
computes kinematics and the mass matrix), evaluate the shared control law
(`robolearn.robot.control`), apply the torque, integrate (`mj_step2`). numba calls MuJoCo's
C functions from the `libmujoco` that the `mujoco` wheel ships (resolved by symbol name), with
the addresses of the same MjModel/MjData the Python bindings use; the numpy arrays passed in are
views of that MjData, so the law reads the state MuJoCo just computed.
"""

from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
import mujoco
import numpy as np
from numba import njit, types

from robolearn.robot.control import impedance_torque, saturated_torque


def _libmujoco_path() -> Path:
    folder = Path(mujoco.__file__).parent
    candidates = sorted(folder.glob("libmujoco.so*")) + sorted(folder.glob("libmujoco*.dylib"))
    if not candidates:
        raise ImportError(f"libmujoco not found next to the mujoco bindings in {folder}")
    return candidates[0]


# Make MuJoCo's symbols resolvable by name from compiled code (also from numba's on-disk cache).
llvm.load_library_permanently(str(_libmujoco_path()))
# Pointers travel as machine-word integers (same calling convention on x86_64 and aarch64).
_ptr = types.intp
_mj_step1 = types.ExternalFunction("mj_step1", types.void(_ptr, _ptr))
_mj_step2 = types.ExternalFunction("mj_step2", types.void(_ptr, _ptr))
_mj_jac_site = types.ExternalFunction("mj_jacSite", types.void(_ptr, _ptr, _ptr, _ptr, types.int32))
_mj_full_m = types.ExternalFunction("mj_fullM", types.void(_ptr, _ptr, _ptr))


@njit(cache=True)
def run_ticks(  # pragma: no cover - compiled
    model_address: int,
    data_address: int,
    n_ticks: int,
    jacp: np.ndarray,  # (3, nv) scratch
    jacr: np.ndarray,  # (3, nv) scratch
    mass_full: np.ndarray,  # (nv, nv) scratch
    qm: np.ndarray,  # MjData.qM view
    qpos: np.ndarray,  # MjData views from here on
    qvel: np.ndarray,
    qfrc_bias: np.ndarray,
    site_xpos: np.ndarray,
    site_xmat: np.ndarray,
    ctrl: np.ndarray,
    tcp: int,
    target: np.ndarray,  # (7,) position + quaternion
    params: np.ndarray,
    joint_limits: np.ndarray,
) -> int:
    """Run `n_ticks` physics steps; return the ticks done, negated if a torque was non-finite
    (that tick applied the brake torque and the loop stopped)."""
    jac = np.empty((6, 7))
    mass = np.empty((7, 7))
    tau = np.empty(7)
    out = np.empty(7)
    jac_p = np.intp(jacp.ctypes.data)
    jac_r = np.intp(jacr.ctypes.data)
    mass_ptr = np.intp(mass_full.ctypes.data)
    qm_ptr = np.intp(qm.ctypes.data)
    for tick in range(n_ticks):
        _mj_step1(model_address, data_address)
        _mj_jac_site(model_address, data_address, jac_p, jac_r, np.int32(tcp))
        _mj_full_m(model_address, mass_ptr, qm_ptr)
        for r in range(3):
            for c in range(7):
                jac[r, c] = jacp[r, c]
                jac[3 + r, c] = jacr[r, c]
        for r in range(7):
            for c in range(7):
                mass[r, c] = mass_full[r, c]
        q = qpos[:7].copy()
        dq = qvel[:7].copy()
        ee_rot = site_xmat[tcp].reshape(3, 3)
        impedance_torque(jac, mass, q, dq, site_xpos[tcp], ee_rot, target, params, tau)
        finite = saturated_torque(tau, qfrc_bias[:7].copy(), q, dq, joint_limits, out)
        ctrl[:7] = out
        _mj_step2(model_address, data_address)
        if not finite:
            return -(tick + 1)
    return n_ticks
