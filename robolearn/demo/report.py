"""The demo's one HTML page: stages, learning curves, success table, certificates, ranking with
intervals, rollout videos. Images and videos are files under the demo folder, linked relatively
(the page opens from disk); nothing is fetched from the network."""

from __future__ import annotations

import html
import math
import time
from pathlib import Path
from typing import Any

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:left}th{background:#f3f3f3}code,pre{background:#f6f6f6}"
    "pre{padding:.6em;overflow-x:auto;font-size:85%}img{max-width:100%}video{width:256px}"
    ".num{text-align:right}.ok{color:#176f2c}.bad{color:#a31515}figure{display:inline-block;"
    "margin:0 1em 1em 0;vertical-align:top}figcaption{font-size:90%;color:#555}"
)


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, fmt: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, fmt)


def _rel(out: Path, path: str | None) -> str | None:
    """``path`` relative to the report, or None when the file is missing (no broken links)."""
    if not path or not Path(path).is_file():
        return None
    try:
        return Path(path).resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


def _figure(out: Path, path: str | None, caption: str) -> str:
    src = _rel(out, path)
    if src is None:
        return f"<p>{_e(caption)}: not written.</p>"
    return (
        f"<figure><img src='{_e(src)}' alt='{_e(caption)}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _stages(results: dict[str, dict[str, Any]]) -> str:
    from robolearn.demo.run import STAGES

    rows = []
    for k, (stage, title) in enumerate(STAGES, start=1):
        r = results.get(stage)
        if r is None or stage == "report":
            continue
        commands = r.get("commands") or [r.get("command", "")]
        if isinstance(commands, dict):
            commands = list(commands.values())
        rows.append(
            [f"{k}", _e(title), f"<span class='num'>{_num(r.get('stage_wall_s'), '.0f')} s</span>",
             "<br>".join(f"<code>{_e(c)}</code>" for c in commands if c)]
        )  # fmt: skip
    return _table(["", "stage", "time", "the same by hand"], rows)


def _serl(out: Path, r: dict[str, Any]) -> str:
    c = r["counters"]
    status = r.get("last_status", {})
    facts = _table(
        ["env steps", "gradient updates", "episodes", "recent training success",
         "weights versions", "lost batches"],
        [[str(c.get("env_steps")), str(c.get("updates")), _e(status.get("episodes", "-")),
          _e(status.get("recent_success_rate", "-")), _e(status.get("weights_version", "-")),
          _e(status.get("lost_batches", "-"))]],
    )  # fmt: skip
    return (
        "<h3>SERL (distributed actor/learner)</h3>"
        f"<p>Learner checkpoint: <code>{_e(r['checkpoint'])}</code>. Training success is over the"
        " actor's recent stochastic episodes; the arena below evaluates the deterministic"
        " policy.</p>" + facts + _figure(out, r.get("learning_curve"), "SERL learning curve")
    )


def _pearl(out: Path, r: dict[str, Any]) -> str:
    rl = r["rlpd"]
    facts = _table(
        ["source -> target", "source pairs (scripted labels)", "target pairs (transferred)",
         "transfer accuracy", "mean confidence", "learned vs true dense reward (Pearson r)",
         "RLPD success (eval)"],
        [[_e(f"{r['source']} -> {r['target']}"), str(r["source_pairs"]), str(r["target_pairs"]),
          _num(r["transfer_accuracy"]), _num(r["mean_confidence"]),
          _num(r["reward_correlation"]), _num(rl.get("final_success_rate"))]],
    )  # fmt: skip
    return (
        "<h3>PEARL (cross-task preference transfer, RLPD on the learned reward)</h3>"
        "<p>Transfer accuracy: the transferred target labels against the target's ground-truth"
        " returns (strict pairs). No target label was used.</p>"
        + facts
        + _figure(out, r.get("learning_curve"), "RLPD on the learned reward")
    )


def _certificates(out: Path, r: dict[str, Any]) -> str:
    cert = r["certificate"]
    lip = cert["lipschitz"]
    eps = cert.get("epsilon")
    deviation = (lip.get("certified_upper") or 0.0) * (eps or 0.0)
    rows = [
        ["certified Lipschitz upper bound", f"{_num(lip.get('certified_upper'), '.4g')}"
         f" ({_e(lip.get('method', ''))})"],
        ["empirical lower bound (PGD)", _num(lip.get("empirical_lower"), ".4g")],
        ["trained Lipschitz budget / gate limit", _num(r["max_lipschitz"], "g")],
        ["certified action deviation for ||d obs|| <= epsilon",
         f"{_num(deviation, '.4g')} (epsilon {_num(eps, 'g')})"],
        ["weights sha256", f"<code>{_e(str(cert.get('policy_sha256', ''))[:16])}...</code>"],
    ]  # fmt: skip
    gate = [
        [_e(name), "<span class='ok'>accepted</span>" if v["accepted"]
         else "<span class='bad'>refused</span>", _e(v["reason"])]
        for name, v in r["gate"].items()
    ]  # fmt: skip
    return (
        "<h2>Certificates</h2>"
        f"<p>Lipschitz BC policy <code>{_e(r['policy'])}</code>, trained on"
        f" {r['bc'].get('transitions')} recorded transitions; its certificate sits beside it"
        " (<code>.cert.json</code>).</p>"
        + _table(["", ""], rows)
        + "<h3>Randomized-smoothing certificate</h3>"
        + f"<pre>{_e(r['smoothing_table'])}</pre>"
        + _figure(out, r.get("smoothing_plot"), "certified success and return vs budget")
        + "<h3>Deployment gate (backend franka)</h3>"
        + _table(["policy", "verdict", "reason"], gate)
    )


def _arena(out: Path, r: dict[str, Any]) -> str:
    from robolearn.arena.report import collect, heatmap_figure, ranking_figure

    s = r["summary"]
    data = collect(r["folder"], bootstrap=int(r.get("bootstrap", 200)))
    st = s["success_table"]
    overall = {p: v["success_rate"] for p, v in s["scores"].items()}
    rows = [
        [_e(p), *(_num(v) for v in row), _num(overall.get(p))]
        for p, row in zip(st["policies"], st["success"], strict=True)
    ]
    ranking_rows = [
        [str(x["rank"]), _e(x["policy"]), _num(x["bt_rating"], ".0f"),
         f"[{_num(x['ci_low'], '.0f')}, {_num(x['ci_high'], '.0f')}]", _num(x["elo"], ".0f"),
         _num(s["scores"].get(x["policy"], {}).get("mean_progress"))]
        for x in s["ranking"]
    ]  # fmt: skip
    policies, conditions, table = data.heatmap
    specs = "".join(
        f"<li><b>{_e(k)}</b>: <code>{_e(v)}</code></li>" for k, v in r["policies"].items()
    )
    return (
        "<h2>Success table</h2>"
        f"<p>{r['episodes']} twin episodes: every policy over the"
        f" <b>{_e(data.config['config']['suite'])}</b> suite, {data.config['config']['seeds']}"
        " seeds per policy and condition (the same seeds for every policy).</p>"
        + _table(["policy", *map(_e, st["conditions"]), "overall"], rows)
        + f"<ul>{specs}</ul>"
        + f"<p><img alt='success heatmap' src='data:image/png;base64,"
        f"{heatmap_figure(policies, conditions, table)}'></p>"
        + "<h2>Ranking with intervals</h2>"
        + "<p>Bradley-Terry ratings from pairwise comparisons of twin progress on the same"
        " episode seed and condition, with bootstrap intervals; Elo for reference. "
        + ("Consecutive intervals do not overlap." if s.get("separated") else
           "Some consecutive intervals <b>overlap</b>: those ranks are not separated.")
        + "</p>"
        + _table(["rank", "policy", "Bradley-Terry", "interval", "Elo", "mean progress"],
                 ranking_rows)
        + f"<p><img alt='ranking' src='data:image/png;base64,"
        f"{ranking_figure(data.ranking, 'demo policies')}'></p>"
        + f"<p>The arena's own page: <a href='{_e(_rel(out, r['report']) or '')}'>"
        "arena/report.html</a>.</p>"
    )  # fmt: skip


def _videos(out: Path, r: dict[str, Any], per_policy: int = 1) -> str:
    from robolearn.arena.runner import load_results

    folder = Path(r["folder"])
    results = sorted(
        (x for x in load_results(folder) if x.get("video")),
        key=lambda x: (x["condition"] != "nominal", x["seed"]),
    )
    cells, seen = [], {}
    for x in results:
        if seen.get(x["policy"], 0) >= per_policy:
            continue
        src = _rel(out, str(folder / x["video"]))
        if src is None:
            continue
        seen[x["policy"]] = seen.get(x["policy"], 0) + 1
        label = "success" if x["success"] else f"failure, progress {x['progress']:.2f}"
        cells.append(
            f"<figure><video src='{_e(src)}' controls loop muted playsinline></video>"
            f"<figcaption>{_e(x['policy'])}, {_e(x['condition'])}, seed {x['seed']}:"
            f" {_e(label)}</figcaption></figure>"
        )
    if not cells:
        return "<p>No rollout videos were kept.</p>"
    return "<h2>Rollout videos</h2>" + "".join(cells)


def write_report(out: str | Path, config: dict[str, Any], results: dict[str, Any]) -> Path:
    """``out/report.html`` from the stage results (`robolearn.demo.run`)."""
    from robolearn.bench.common import machine_info

    out = Path(out)
    machine = machine_info()
    rec = results["record"]
    cpu = f"{machine.get('cpu_model') or 'this machine'} ({machine.get('cpus_usable')} cores)"
    total = sum(r.get("stage_wall_s", 0.0) for r in results.values())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>robolearn demo: {_e(config['task'])}</title><style>{STYLE}</style></head><body>",
        f"<h1>robolearn demo: {_e(config['task'])} (profile {_e(config['profile'])})</h1>",
        f"<p>Sim-only, on the MuJoCo twin; written {time.strftime('%Y-%m-%d %H:%M')} on"
        f" {_e(cpu)}. Total stage time {_num(total, '.0f')} s. Every stage and the command"
        " that does the same by hand:</p>",
        _stages(results),
        "<h2>Demonstrations</h2>",
        f"<p>{rec['episodes']} scripted-teleop episodes ({rec['successes']} successful,"
        f" {rec['steps']} steps) recorded over ROS 2 by the recorder node into the zarr dataset"
        f" <code>{_e(rec['dataset'])}</code>.</p>",
        "<h2>Learning curves</h2>",
        _serl(out, results["serl"]),
        _pearl(out, results["pearl"]),
        _arena(out, results["arena"]),
        _certificates(out, results["certify"]),
        _videos(out, results["arena"]),
        "<h2>Config</h2><p>The effective config (<code>config.yaml</code>); change any key with"
        " <code>robolearn demo --set key=value</code>.</p>",
        f"<pre>{_e(_yaml(config))}</pre>",
        "</body></html>",
    ]
    path = out / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path


def _yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)
