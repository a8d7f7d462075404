"""Policy smoothing certificates (Kumar, Levine, Feizi, "Policy Smoothing for Provably Robust
Reinforcement Learning", ICLR 2022, https://arxiv.org/abs/2106.11420).

The smoothed policy adds Gaussian noise ``N(0, sigma^2 I)`` to its observation at every step.
The adversary may perturb the observations of a whole episode, adaptively (each perturbation may
depend on everything seen so far), with a total l2 budget ``B``:
``sqrt(sum_t ||eps_t||^2) <= B``. The paper's adaptive Neyman-Pearson lemma (its Gaussian
case) gives, for any event ``E`` of the episode (for instance "the return is at
least nu"):

    P_attacked[E] >= Phi(Phi^-1(P_clean[E]) - B / sigma)                               (NP)

where ``P_clean`` is the probability under smoothing without attack. Monte Carlo episodes
estimate ``P_clean``; the certificate uses a lower confidence bound in its place:

- **P(return >= nu)** (`certified_probability`): Clopper-Pearson lower bound on the fraction of
  episodes with return ``>= nu`` (or with success), then (NP).
- **expected return** (`certified_expected_return`): for returns ``>= a``,
  ``E[R] = a + integral_a^inf P[R >= nu] d nu``. The empirical CDF of ``n`` returns with the
  Dvoretzky-Kiefer-Wolfowitz inequality (``eps = sqrt(ln(2/alpha) / (2n))``, Massart's
  constant) bounds ``P_clean[R >= nu] >= p_hat(nu) - eps`` for every ``nu`` at once; applying (NP)
  under the integral of this step function gives, with sorted returns ``r_(1) <= ... <= r_(n)``
  and ``r_(0) = a``,

      E_attacked[R] >= a + sum_i (r_(i) - r_(i-1)) Phi(Phi^-1((n - i + 1)/n - eps) - B/sigma),

  the paper's expected-reward certificate (the empirical-CDF bound), each term being
  0 where the probability bound is 0.

Both hold with probability at least ``1 - alpha`` over the Monte Carlo sampling, for any adaptive
adversary within ``B``, for the *smoothed* policy (which is what must run on the robot for the
certificate to apply), in the environment the episodes ran in: measured in the twin, they carry
over to the arm only as far as the twin matches it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.certify.closed_loop import rollouts
from robolearn.certify.policy import CertifiablePolicy

log = logging.getLogger(__name__)
_N = NormalDist()


def _validate(sigma: float, budget: float, alpha: float) -> None:
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if not budget >= 0:
        raise ValueError(f"the budget B must be non-negative, got {budget}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha (1 - confidence) must be in (0, 1), got {alpha}")


def neyman_pearson(p: float, budget: float, sigma: float) -> float:
    """(NP): the smallest probability an adversary with total budget B can leave an event whose
    clean probability is ``p``: ``Phi(Phi^-1(p) - B / sigma)`` (0 for p = 0, p itself for B = 0)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0  # Phi^-1(1) = inf
    return _N.cdf(_N.inv_cdf(p) - budget / sigma)


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided ``1 - alpha`` lower confidence bound on a binomial proportion."""
    if not 0 <= successes <= trials or trials < 1:
        raise ValueError(f"need 0 <= successes <= trials, trials >= 1; got {successes}/{trials}")
    if successes == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(alpha, successes, trials - successes + 1))


def dkw_epsilon(n: int, alpha: float) -> float:
    """DKW band half-width: ``P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2) = alpha``."""
    if n < 1:
        raise ValueError("need at least one sample")
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def certified_probability(
    successes: int, trials: int, *, sigma: float, budget: float, alpha: float
) -> float:
    """Certified lower bound on P(event) under attack (Clopper-Pearson, then (NP))."""
    _validate(sigma, budget, alpha)
    return neyman_pearson(clopper_pearson_lower(successes, trials, alpha), budget, sigma)


def certified_expected_return(
    returns: np.ndarray | list[float],
    *,
    sigma: float,
    budget: float,
    alpha: float,
    lower: float = 0.0,
) -> float:
    """Certified lower bound on the expected return under attack (DKW, then (NP) under the
    integral). ``lower`` is a known lower bound on any return (0 for the twin's rewards)."""
    _validate(sigma, budget, alpha)
    r = np.sort(np.asarray(returns, dtype=np.float64))
    if r.size == 0:
        raise ValueError("no returns")
    if r[0] < lower - 1e-12:
        raise ValueError(f"a return ({r[0]}) is below the declared lower bound {lower}")
    n, eps = r.size, dkw_epsilon(r.size, alpha)
    prev, total = lower, lower
    for i, value in enumerate(r, start=1):
        p = (n - i + 1) / n - eps
        total += (value - prev) * neyman_pearson(p, budget, sigma)
        prev = value
    return float(total)


# --- Monte Carlo on the twin --------------------------------------------------------------------
@dataclass
class SmoothingRow:
    budget: float
    certified_expected_return: float
    certified_success_probability: float
    # certified P(return >= nu) by threshold nu (as a string key, JSON-ready)
    certified_return_probability: dict[str, float] = field(default_factory=dict)


@dataclass
class SmoothingCertificate:
    """Certificates of the smoothed policy for several total budgets B."""

    sigma: float
    alpha: float
    episodes: int
    return_lower: float
    mean_return: float  # the smoothed policy's clean Monte Carlo mean
    success_rate: float  # the smoothed policy's clean Monte Carlo success rate
    returns: list[float]
    successes: int
    rows: list[SmoothingRow] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confidence"] = self.confidence
        return out

    def table(self) -> str:
        lines = [
            f"policy smoothing: sigma={self.sigma:g}, {self.episodes} episodes, confidence "
            f"{self.confidence:.3f}; clean smoothed mean return {self.mean_return:.3f}, "
            f"success {self.successes}/{self.episodes}",
        ]
        nus = list(self.rows[0].certified_return_probability) if self.rows else []
        head = f"{'budget B':>10} {'B/sigma':>8} {'E[return] >=':>13} {'P(success) >=':>14}"
        lines.append(head + "".join(f" {'P(R>=' + nu + ') >=':>14}" for nu in nus))
        for row in self.rows:
            lines.append(
                f"{row.budget:>10.4g} {row.budget / self.sigma:>8.3f} "
                f"{row.certified_expected_return:>13.4f} {row.certified_success_probability:>14.4f}"
                + "".join(f" {row.certified_return_probability[nu]:>14.4f}" for nu in nus)
            )
        return "\n".join(lines)


def certify_smoothing(
    policy: CertifiablePolicy,
    env: gym.Env,
    *,
    sigma: float,
    budgets: list[float],
    episodes: int = 100,
    alpha: float = 0.05,
    seed: int = 0,
    return_lower: float = 0.0,
    thresholds: list[float] | None = None,
) -> SmoothingCertificate:
    """Run the smoothed policy for ``episodes`` episodes (noise on every observation), then
    certify the expected return, the success probability and ``P(return >= nu)`` for each
    threshold ``nu`` in ``thresholds``, for every budget in ``budgets``."""
    for b in budgets:
        _validate(sigma, b, alpha)
    # Distinct env seeds: independent draws from the reset distribution; independent noise.
    stats = rollouts(policy, env, episodes, seed=seed, observation_noise=sigma)
    rows = [
        SmoothingRow(
            budget=float(b),
            certified_expected_return=certified_expected_return(
                stats.returns, sigma=sigma, budget=b, alpha=alpha, lower=return_lower
            ),
            certified_success_probability=certified_probability(
                stats.successes, episodes, sigma=sigma, budget=b, alpha=alpha
            ),
            certified_return_probability={
                f"{nu:g}": certified_probability(
                    int(np.sum(np.asarray(stats.returns) >= nu)),
                    episodes,
                    sigma=sigma,
                    budget=b,
                    alpha=alpha,
                )
                for nu in thresholds or []
            },
        )
        for b in budgets
    ]
    return SmoothingCertificate(
        sigma=sigma,
        alpha=alpha,
        episodes=episodes,
        return_lower=return_lower,
        mean_return=stats.mean_return,
        success_rate=stats.success_rate,
        returns=stats.returns,
        successes=stats.successes,
        rows=rows,
    )


def plot_smoothing(cert: SmoothingCertificate, path: str, title: str = "") -> str:
    """Certified expected return and success probability against the budget B (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = [r.budget for r in cert.rows]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot(b, [r.certified_expected_return for r in cert.rows], "o-")
    ax[0].axhline(cert.mean_return, ls="--", c="gray", label="clean smoothed mean")
    ax[0].set(xlabel="total l2 budget B", ylabel="certified E[return]")
    ax[0].legend()
    ax[1].plot(b, [r.certified_success_probability for r in cert.rows], "o-", c="C1")
    ax[1].set(xlabel="total l2 budget B", ylabel="certified P(success)", ylim=(0, 1.02))
    fig.suptitle(title or f"policy smoothing, sigma={cert.sigma:g}, {cert.episodes} episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
