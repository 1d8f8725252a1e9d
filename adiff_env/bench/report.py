"""Bench report from ``results.csv`` rows: a Markdown table and matplotlib figures.

- ``table.md``: one line per agent x env: normalized score x100 as mean ± sample std (n - 1) over seeds (each
  seed's figure is its mean over episodes), success rate (mean over seeds), actions per second
  (env steps / wall time, all sub-envs together), plans per second and median planning time
  where the agent reports them, and seeds x episodes.
- ``scores.png``: score per agent per env, bars with ± std error bars.
- ``score_vs_time.png``: for agents that report a planning time (planners): score against
  median planning time per sampler call, one line per planner (the agent label before ``?``),
  points labelled with their sampler steps. Written only when such rows exist.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def summarize(rows: list[dict[str, Any]], agent_order: list[str] | None = None, env_order: list[str] | None = None) -> list[dict[str, Any]]:
    """Aggregate cells over seeds: one dict per (agent, env), in the given orders (others after)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["agent"], row["env"])].append(row)
    agents = list(dict.fromkeys([*(agent_order or []), *(a for a, _ in groups)]))
    envs = list(dict.fromkeys([*(env_order or []), *(e for _, e in groups)]))
    out = []
    for agent in agents:
        for env in envs:
            cells = groups.get((agent, env))
            if not cells:
                continue
            col = lambda k: [v for c in cells if (v := _num(c.get(k))) is not None]  # noqa: E731
            score, plan = col("normalized_score_x100_mean"), col("plan_ms_median")
            plans, wall = col("plans"), col("wall_s")
            out.append({
                "agent": agent, "env": env, "seeds": len(cells), "episodes": int(sum(col("episodes"))),
                "score_mean": float(np.mean(score)) if score else None,
                # sample standard deviation of the per-seed means (0 for a single seed)
                "score_std": float(np.std(score, ddof=1)) if len(score) > 1 else (0.0 if score else None),
                "success_rate": float(np.mean(col("success_rate"))),
                "actions_per_s": float(np.mean(col("steps_per_s"))),
                "plans_per_s": float(sum(plans) / sum(wall)) if plans and sum(wall) > 0 else None,
                "plan_ms": float(np.mean(plan)) if plan else None,
                "sampler_steps": _num(cells[0].get("sampler_steps")),
                "coins_mean": float(np.mean(coins)) if (coins := col("coins_mean")) else None,
            })
    return out


def markdown_table(summary: list[dict[str, Any]]) -> str:
    """The results table; a ``coins`` column (mean coins collected per episode) appears when
    any cell has coin counts (gold-coin mazes)."""
    coins = any(s.get("coins_mean") is not None for s in summary)
    head = ("| agent | env | score ×100 (mean ± std over seeds) | success |" + (" coins |" if coins else "")
            + " actions/s | plans/s | plan ms | seeds × episodes |\n|---|---|---|---|" + ("---|" if coins else "") + "---|---|---|---|")
    lines = [head]
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    for s in summary:
        score = "–" if s["score_mean"] is None else f"{s['score_mean']:.1f} ± {s['score_std']:.1f}"
        per_seed = s["episodes"] // max(s["seeds"], 1)
        coin_cell = f" {fmt(s.get('coins_mean'), '.2f')} |" if coins else ""
        lines.append(
            f"| {s['agent']} | {s['env']} | {score} | {s['success_rate']:.0%} |{coin_cell} {fmt(s['actions_per_s'], '.0f')} | "
            f"{fmt(s['plans_per_s'], '.1f')} | {fmt(s['plan_ms'], '.1f')} | {s['seeds']} × {per_seed} |"
        )
    return "\n".join(lines) + "\n"


def plot_scores(summary: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(dict.fromkeys(s["agent"] for s in summary))
    envs = list(dict.fromkeys(s["env"] for s in summary))
    by = {(s["agent"], s["env"]): s for s in summary}
    width = 0.8 / max(len(agents), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(envs) * max(1, len(agents) / 3)), 4))
    for k, agent in enumerate(agents):
        xs = [i + (k - (len(agents) - 1) / 2) * width for i in range(len(envs))]
        ys = [(by.get((agent, e)) or {}).get("score_mean") for e in envs]
        es = [(by.get((agent, e)) or {}).get("score_std") for e in envs]
        ax.bar(xs, [y if y is not None else 0.0 for y in ys], width, yerr=[e or 0.0 for e in es], capsize=3, label=agent)
    ax.set_xticks(range(len(envs)), [e.split("/")[-1] for e in envs])
    ax.set_ylabel("normalized score ×100")
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_score_vs_time(summary: list[dict[str, Any]], path: Path) -> Path | None:
    timed = [s for s in summary if s["plan_ms"] is not None and s["score_mean"] is not None]
    if not timed:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(s["env"] for s in timed))
    fig, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs):
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in timed:
            if s["env"] == env:
                lines[s["agent"].partition("?")[0]].append(s)
        for base, points in lines.items():
            points.sort(key=lambda p: p["plan_ms"])
            ax.errorbar([p["plan_ms"] for p in points], [p["score_mean"] for p in points],
                        yerr=[p["score_std"] for p in points], marker="o", capsize=3, label=base)
            for p in points:
                if p["sampler_steps"] is not None:
                    ax.annotate(f"{int(p['sampler_steps'])}", (p["plan_ms"], p["score_mean"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(env.split("/")[-1])
        ax.set_xlabel("median planning time per sampler call (ms)")
        ax.set_ylabel("normalized score ×100")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(rows: list[dict[str, Any]], out: Path, agent_order: list[str] | None = None,
                 env_order: list[str] | None = None) -> dict[str, Path]:
    """Write ``table.md``, ``scores.png`` and (planners only) ``score_vs_time.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, agent_order, env_order)
    written = {"table": out / "table.md"}
    tmp = out / ".table.md.tmp"
    tmp.write_text(markdown_table(summary), encoding="utf-8")
    tmp.replace(written["table"])
    if summary:
        written["scores"] = plot_scores(summary, out / "scores.png")
        timed = plot_score_vs_time(summary, out / "score_vs_time.png")
        if timed is not None:
            written["score_vs_time"] = timed
    return written
