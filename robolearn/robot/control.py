"""The Cartesian impedance control law, written once for the twin and the torque-mode hardware.

It follows libfranka's `cartesian_impedance_control` example (and SERL's controller):

    tau = J^T (-K e - D J dq) + N (K_n (q_n - q) - 2 sqrt(K_n) dq)

with e the pose error (position, and the vector part of the error quaternion rotated into the
base frame), and N = I - J^T Jbar^T the *dynamically consistent* null-space projector, where
Jbar = M^-1 J^T (J M^-1 J^T)^-1 (Khatib 1987). The caller adds its own model compensation:
the twin adds MuJoCo's bias forces (gravity + Coriolis, as the Franka's firmware compensates
gravity), the hardware adds libfranka's Coriolis vector.

The law runs at 1 kHz, so it is compiled with numba and writes into a preallocated output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from robolearn.robot.limits import CellLimits

# Layout of the packed parameter vector handed to the compiled law.
# [0:6] stiffness, [6:12] damping, [12] nullspace stiffness, [13:20] nullspace posture
_P_K = slice(0, 6)
_P_D = slice(6, 12)
_P_KN = 12
_P_QN = slice(13, 20)
PARAM_SIZE = 20


def pack_params(limits: CellLimits, posture: np.ndarray) -> np.ndarray:
    """Pack gains and the null-space posture into the vector the compiled law reads."""
    gains = limits.impedance
    params = np.zeros(PARAM_SIZE)
    params[_P_K] = gains.stiffness()
    params[_P_D] = gains.damping()
    params[_P_KN] = gains.nullspace_stiffness
    params[_P_QN] = posture
    return params


@njit(cache=True, fastmath=False)
def _mat_to_quat(r: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    q = np.empty(4)
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    if tr > 0.0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q[0] = 0.25 * s
        q[1] = (r[2, 1] - r[1, 2]) / s
        q[2] = (r[0, 2] - r[2, 0]) / s
        q[3] = (r[1, 0] - r[0, 1]) / s
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q[0] = (r[2, 1] - r[1, 2]) / s
        q[1] = 0.25 * s
        q[2] = (r[0, 1] + r[1, 0]) / s
        q[3] = (r[0, 2] + r[2, 0]) / s
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q[0] = (r[0, 2] - r[2, 0]) / s
        q[1] = (r[0, 1] + r[1, 0]) / s
        q[2] = 0.25 * s
        q[3] = (r[1, 2] + r[2, 1]) / s
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q[0] = (r[1, 0] - r[0, 1]) / s
        q[1] = (r[0, 2] + r[2, 0]) / s
        q[2] = (r[1, 2] + r[2, 1]) / s
        q[3] = 0.25 * s
    return q / np.sqrt(np.sum(q * q))


@njit(cache=True)
def solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """x = a^-1 b for a small symmetric positive definite `a` (Cholesky, no LAPACK call).

    The law's matrices are 6x6 and 7x7: a hand-written factorisation costs about a microsecond
    and never touches BLAS threads, which on a loaded machine cost milliseconds per call.
    """
    n = a.shape[0]
    low = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            acc = a[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            if i == j:
                low[i, i] = np.sqrt(acc) if acc > 0.0 else 1e-12
            else:
                low[i, j] = acc / low[j, j]
    b2 = b.reshape(n, -1)
    m = b2.shape[1]
    x = np.empty((n, m))
    for c in range(m):
        y = np.empty(n)
        for i in range(n):  # forward: low y = b
            acc = b2[i, c]
            for k in range(i):
                acc -= low[i, k] * y[k]
            y[i] = acc / low[i, i]
        for i in range(n - 1, -1, -1):  # backward: low^T x = y
            acc = y[i]
            for k in range(i + 1, n):
                acc -= low[k, i] * x[k, c]
            x[i, c] = acc / low[i, i]
    return x


@njit(cache=True)
def external_wrench(jac: np.ndarray, tau_ext: np.ndarray) -> np.ndarray:  # pragma: no cover
    """F with tau_ext = J^T F, least squares: F = (J J^T + eps I)^-1 J tau_ext."""
    jjt = jac @ jac.T
    for i in range(6):
        jjt[i, i] += 1e-6
    return solve_spd(jjt, jac @ tau_ext).ravel()


@njit(cache=True)
def impedance_torque(  # pragma: no cover - compiled
    jac: np.ndarray,  # (6, 7) [linear; angular] Jacobian of the TCP
    mass: np.ndarray,  # (7, 7) joint-space inertia
    q: np.ndarray,  # (7,)
    dq: np.ndarray,  # (7,)
    ee_pos: np.ndarray,  # (3,)
    ee_rot: np.ndarray,  # (3, 3) TCP rotation matrix (row-major, base frame)
    target: np.ndarray,  # (7,) target position (3) and quaternion (w, x, y, z)
    params: np.ndarray,  # (PARAM_SIZE,) from pack_params
    out: np.ndarray,  # (7,) joint torques, written in place
) -> None:
    # Pose error e = x - x_d (translation) and the error quaternion's vector part (rotation).
    err = np.empty(6)
    for i in range(3):
        err[i] = ee_pos[i] - target[i]
    qc = _mat_to_quat(ee_rot)
    qd = target[3:7]
    if qc[0] * qd[0] + qc[1] * qd[1] + qc[2] * qd[2] + qc[3] * qd[3] < 0.0:
        qc = -qc
    # q_err = conj(qc) * qd, vector part
    ex = qc[0] * qd[1] - qc[1] * qd[0] - qc[2] * qd[3] + qc[3] * qd[2]
    ey = qc[0] * qd[2] + qc[1] * qd[3] - qc[2] * qd[0] - qc[3] * qd[1]
    ez = qc[0] * qd[3] - qc[1] * qd[2] + qc[2] * qd[1] - qc[3] * qd[0]
    for i in range(3):
        err[3 + i] = -(ee_rot[i, 0] * ex + ee_rot[i, 1] * ey + ee_rot[i, 2] * ez)
    twist = jac @ dq
    wrench = np.empty(6)
    for i in range(6):
        wrench[i] = -params[i] * err[i] - params[6 + i] * twist[i]
    tau_task = jac.T @ wrench
    # Dynamically consistent null-space projection of a joint-space posture spring.
    kn = params[12]
    tau_posture = np.empty(7)
    for i in range(7):
        tau_posture[i] = kn * (params[13 + i] - q[i]) - 2.0 * np.sqrt(kn) * dq[i]
    minv_jt = solve_spd(mass, np.ascontiguousarray(jac.T))  # (7, 6)
    lam_inv = jac @ minv_jt  # (6, 6)
    for i in range(6):
        lam_inv[i, i] += 1e-6  # regularise near singularities
    # jbar = M^-1 J^T Lambda  with  Lambda = lam_inv^-1  (both symmetric)
    jbar = solve_spd(lam_inv, np.ascontiguousarray(minv_jt.T)).T  # (7, 6)
    tau_null = tau_posture - jac.T @ (jbar.T @ tau_posture)
    for i in range(7):
        out[i] = tau_task[i] + tau_null[i]


# Layout of the packed joint-limit vector: [0:7] lower, [7:14] upper, [14:21] torque limit,
# [21] margin, [22] margin stiffness.
LIMIT_SIZE = 23


def pack_joint_limits(limits: CellLimits) -> np.ndarray:
    arm, s = limits.arm, limits.safety
    out = np.zeros(LIMIT_SIZE)
    out[0:7] = arm.joint_lower
    out[7:14] = arm.joint_upper
    out[14:21] = arm.max_joint_torque
    out[21] = s.joint_margin
    out[22] = s.joint_margin_stiffness
    return out


@njit(cache=True)
def saturated_torque(  # pragma: no cover - compiled
    tau_law: np.ndarray,  # (7,) from impedance_torque
    compensation: np.ndarray,  # (7,) model compensation (bias forces or Coriolis)
    q: np.ndarray,  # (7,)
    dq: np.ndarray,  # (7,)
    joint_limits: np.ndarray,  # (LIMIT_SIZE,) from pack_joint_limits
    out: np.ndarray,  # (7,) torque to apply, written in place
) -> bool:
    """Add compensation and the joint-limit wall, saturate; False (and a brake) on NaN/inf."""
    margin = joint_limits[21]
    k_wall = joint_limits[22]
    finite = True
    for i in range(7):
        t = tau_law[i] + compensation[i]
        low = joint_limits[i] + margin
        high = joint_limits[7 + i] - margin
        if q[i] < low:
            t += k_wall * (low - q[i])
        elif q[i] > high:
            t -= k_wall * (q[i] - high)
        if not np.isfinite(t):
            finite = False
        out[i] = t
    if not finite:
        # Never apply a non-finite torque: hold against gravity and brake with joint damping.
        for i in range(7):
            out[i] = compensation[i] - 10.0 * dq[i]
    for i in range(7):
        lim = joint_limits[14 + i]
        if not np.isfinite(out[i]):
            out[i] = 0.0
        elif out[i] > lim:
            out[i] = lim
        elif out[i] < -lim:
            out[i] = -lim
    return finite
