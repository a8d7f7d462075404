"""The HTML report of an evaluation folder: ranking table with confidence-interval bars,
per-perturbation success heatmap, rollout videos, human-label ranking and real-vs-sim agreement
when available. Figures are matplotlib PNGs embedded in the page; videos are linked files."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.arena.metrics import mmrv, pearson_r
from robolearn.arena.ranking import Ranking, rank
from robolearn.arena.runner import load_results
from robolearn.arena.scoring import auto_comparisons, policy_scores, success_table

log = logging.getLogger(__name__)


@dataclass
class ReportData:
    """Everything the page shows (also written to `summary.json`)."""

    config: dict[str, Any]
    episodes: int
    ranking: Ranking
    human: Ranking | None
    scores: dict[str, Any]
    heatmap: tuple[list[str], list[str], np.ndarray]
    agreement: dict[str, Any] | None


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def ranking_figure(r: Ranking, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = r.order()[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(idx)))
    y = np.arange(len(idx))
    rating = r.rating[idx]
    err = np.vstack([rating - r.low[idx], r.high[idx] - rating])
    ax.errorbar(rating, y, xerr=err, fmt="o", capsize=4, color="tab:blue", label="Bradley-Terry")
    ax.plot(r.elo[idx], y, "x", color="tab:orange", label="Elo")
    ax.set_yticks(y, [r.players[i] for i in idx])
    ax.set_xlabel(f"rating (Elo scale), {int(100 * r.confidence)}% bootstrap interval")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def heatmap_figure(policies: list[str], conditions: list[str], table: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(conditions), 0.8 + 0.45 * len(policies)))
    im = ax.imshow(table, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(conditions)), conditions, rotation=30, ha="right")
    ax.set_yticks(range(len(policies)), policies)
    for i in range(len(policies)):
        for j in range(len(conditions)):
            v = table[i, j]
            ax.text(j, i, "-" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                    color="white" if (np.isnan(v) or v < 0.6) else "black", fontsize=8)  # fmt: skip
    fig.colorbar(im, ax=ax, label="success rate")
    ax.set_title("success per perturbation condition")
    return _png(fig)


def collect(
    out_dir: str | Path,
    *,
    real: dict[str, float] | None = None,
    labels: str | Path | None = None,
    bootstrap: int = 500,
    seed: int = 0,
) -> ReportData:
    from robolearn.arena.preferences import human_comparisons

    out = Path(out_dir)
    cfg_file = out / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(
            f"{out} is not an arena folder (no config.json); run `robolearn arena run` first"
        )
    config = json.loads(cfg_file.read_text())
    results = load_results(out)
    if not results:
        raise ValueError(f"{out} has no finished episodes yet")
    players = sorted({r["policy"] for r in results})
    ranking = rank(auto_comparisons(results), players, bootstrap=bootstrap, seed=seed)
    human_cmp = human_comparisons(out, labels)
    human = rank(human_cmp, players, bootstrap=bootstrap, seed=seed) if human_cmp else None
    scores = {p: vars(s) for p, s in policy_scores(results).items()}
    agreement = None
    if real:
        common = [p for p in players if p in real]
        if len(common) >= 2:
            r_rates = [float(real[p]) for p in common]
            s_rates = [scores[p]["success_rate"] for p in common]
            agreement = {
                "policies": common,
                "real": r_rates,
                "sim": s_rates,
                "pearson_r": pearson_r(r_rates, s_rates),
                "mmrv": mmrv(r_rates, s_rates),
            }
        else:
            log.warning("real success rates name %d of the evaluated policies; need 2", len(common))
    return ReportData(
        config=config,
        episodes=len(results),
        ranking=ranking,
        human=human,
        scores=scores,
        heatmap=success_table(results, [c["name"] for c in config["conditions"]]),
        agreement=agreement,
    )


def _ranking_table(r: Ranking, scores: dict[str, Any]) -> str:
    rows = []
    for row in r.as_rows():
        s = scores.get(row["policy"], {})
        rows.append(
            "<tr>"
            f"<td>{row['rank']}</td><td>{html.escape(str(row['policy']))}</td>"
            f"<td>{row['bt_rating']:.0f}</td><td>[{row['ci_low']:.0f}, {row['ci_high']:.0f}]</td>"
            f"<td>{row['elo']:.0f}</td>"
            f"<td>{s.get('success_rate', float('nan')):.2f}</td>"
            f"<td>{s.get('mean_progress', float('nan')):.2f}</td>"
            f"<td>{s.get('episodes', 0)}</td></tr>"
        )
    head = (
        "<tr><th>rank</th><th>policy</th><th>Bradley-Terry</th>"
        f"<th>{int(100 * r.confidence)}% CI</th><th>Elo</th><th>success</th>"
        "<th>progress</th><th>episodes</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(
    out_dir: str | Path,
    *,
    real: dict[str, float] | None = None,
    labels: str | Path | None = None,
    bootstrap: int = 500,
) -> Path:
    """Write `<out>/report.html` and `<out>/summary.json`; returns the report's path."""
    out = Path(out_dir)
    data = collect(out, real=real, labels=labels, bootstrap=bootstrap)
    cfg = data.config["config"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>RobotArena report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "video{width:192px}</style></head><body>",
        f"<h1>Arena evaluation: {html.escape(cfg['task'])}</h1>",
        f"<p>{data.episodes} episodes; suite <b>{html.escape(cfg['suite'])}</b>"
        f" ({len(data.config['conditions'])} conditions), {cfg['seeds']} seeds per"
        f" policy and condition, scenes: {len(cfg['scenes']) or 'task resets'}.</p>",
        "<h2>Ranking (automatic preferences from twin progress)</h2>",
        _ranking_table(data.ranking, data.scores),
        f"<p><img src='data:image/png;base64,{ranking_figure(data.ranking, 'automatic')}'></p>",
        "<p>Consecutive intervals "
        + ("do not overlap." if data.ranking.separated() else "<b>overlap</b>: run more seeds.")
        + "</p>",
    ]
    if data.human is not None:
        parts += [
            "<h2>Ranking from human labels</h2>",
            _ranking_table(data.human, data.scores),
            f"<p><img src='data:image/png;base64,{ranking_figure(data.human, 'human')}'></p>",
        ]
    else:
        parts.append(
            "<p>No human labels yet: <code>robolearn arena pairs --out DIR</code>, then"
            " <code>robolearn label serve DIR/pairs.json</code>.</p>"
        )
    policies, conditions, table = data.heatmap
    parts += [
        "<h2>Success per perturbation</h2>",
        f"<p><img src='data:image/png;base64,{heatmap_figure(policies, conditions, table)}'></p>",
    ]
    if data.agreement:
        a = data.agreement
        rows = "".join(
            f"<tr><td>{html.escape(p)}</td><td>{r:.2f}</td><td>{s:.2f}</td></tr>"
            for p, r, s in zip(a["policies"], a["real"], a["sim"], strict=True)
        )
        parts += [
            "<h2>Real-vs-sim agreement</h2>",
            f"<p>Pearson r = {a['pearson_r']:.3f}, MMRV = {a['mmrv']:.3f} (lower is better)</p>",
            f"<table><tr><th>policy</th><th>real</th><th>sim</th></tr>{rows}</table>",
        ]
    parts.append("<h2>Rollout videos</h2>")
    parts.append(_videos_html(out, policies, conditions))
    parts.append("</body></html>")
    report = out / "report.html"
    report.write_text("\n".join(parts))
    summary = {
        "episodes": data.episodes,
        "ranking": data.ranking.as_rows(),
        "separated": data.ranking.separated(),
        "human_ranking": data.human.as_rows() if data.human else None,
        "scores": data.scores,
        "success_table": {
            "policies": policies,
            "conditions": conditions,
            "success": [[None if np.isnan(v) else float(v) for v in row] for row in table],
        },
        "agreement": data.agreement,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return report


def _videos_html(out: Path, policies: list[str], conditions: list[str]) -> str:
    results = [r for r in load_results(out) if r.get("video")]
    if not results:
        return "<p>No videos kept (run with --videos >= 1).</p>"
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: r["seed"]):
        first.setdefault((r["policy"], r["condition"]), r)
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in conditions) + "</tr>"
    rows = []
    for p in policies:
        cells = []
        for c in conditions:
            r = first.get((p, c))
            if r is None:
                cells.append("<td></td>")
                continue
            label = "success" if r["success"] else f"progress {r['progress']:.2f}"
            cells.append(
                f"<td><video src='{html.escape(r['video'])}' controls loop muted></video>"
                f"<br>seed {r['seed']}: {label}</td>"
            )
        rows.append(f"<tr><th>{html.escape(p)}</th>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"
