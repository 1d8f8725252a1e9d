"""Bench report from ``results.csv`` rows: a Markdown table and matplotlib figures.

- ``table.md``: one line per agent x env: normalized score x100 as mean ± sample std (n - 1) over seeds (each
  seed's figure is its mean over episodes), success rate (mean over seeds), actions per second
  (env steps / wall time, all sub-envs together), plans per second and median planning time
  where the agent reports them, and seeds x episodes.
- ``scores.png``: score per agent per env, bars with ± std error bars.
- ``score_vs_time.png``: for agents that report a planning time (planners): score against
  median planning time per sampler call, one line per planner (the agent label before ``?``),
  points labelled with their sampler steps. Written only when such rows exist.

Goal envs that count success at the last step (Fetch; rows with ``ever_success_rate``) get the
success-first table (:func:`markdown_table`) and two more figures:

- ``success.png``: final-step success per agent per env (bars), ever-success as outlines;
- ``zone.png``: on forbidden-zone envs, success against the share of steps with the object in
  the zone, one point per agent (written only when such rows exist).
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
                "ever_success_rate": float(np.mean(ever)) if (ever := col("ever_success_rate")) else None,
                "zone_steps": float(np.mean(zs)) if (zs := col("zone_steps_mean")) else None,
                "zone_episodes": float(np.mean(ze)) if (ze := col("zone_episodes")) else None,
                "return_mean": float(np.mean(ret)) if (ret := col("return_mean")) else None,
                "episodes_per_s": float(sum(col("episodes")) / sum(wall)) if wall and sum(wall) > 0 else None,
            })
    return out


def markdown_table(summary: list[dict[str, Any]]) -> str:
    """The results table; a ``coins`` column (mean coins collected per episode) appears when
    any cell has coin counts (gold-coin mazes). Cells with ``ever_success_rate`` (Fetch) get
    :func:`goal_table` instead."""
    if any(s.get("ever_success_rate") is not None for s in summary):
        return goal_table(summary)
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


def goal_table(summary: list[dict[str, Any]]) -> str:
    """Success-first table for goal envs judged at the last step: final-step success, ever
    success, normalized score ×100 (mean ± std over seeds), mean return, and on forbidden-zone
    envs the share of steps in the zone and of episodes that entered it; then actions/s,
    episodes/s, plans/s and median plan ms."""
    zone = any(s.get("zone_steps") is not None for s in summary)
    head = ("| agent | env | success (last step) | ever succeeded | score ×100 | return |"
            + (" zone steps | zone episodes |" if zone else "")
            + " actions/s | episodes/s | plans/s | plan ms | seeds × episodes |\n|---|---|---|---|---|---|"
            + ("---|---|" if zone else "") + "---|---|---|---|---|")
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    lines = [head]
    for s in summary:
        score = "–" if s["score_mean"] is None else f"{s['score_mean']:.1f} ± {s['score_std']:.1f}"
        per_seed = s["episodes"] // max(s["seeds"], 1)
        zone_cells = f" {fmt(s.get('zone_steps'), '.2%')} | {fmt(s.get('zone_episodes'), '.0%')} |" if zone else ""
        lines.append(
            f"| {s['agent']} | {s['env']} | {s['success_rate']:.0%} | {fmt(s.get('ever_success_rate'), '.0%')} | {score} | "
            f"{fmt(s.get('return_mean'), '.1f')} |{zone_cells} {fmt(s['actions_per_s'], '.0f')} | "
            f"{fmt(s.get('episodes_per_s'), '.2f')} | {fmt(s['plans_per_s'], '.1f')} | {fmt(s['plan_ms'], '.1f')} | "
            f"{s['seeds']} × {per_seed} |"
        )
    return "\n".join(lines) + "\n"


def _short_env(env: str) -> str:
    """``adiff/FetchPickAndPlace-v0?goal_region=air`` -> ``FetchPickAndPlace-v0 air``."""
    base, _, query = env.rpartition("/")[-1].partition("?")
    return base + ("\n" + " ".join(v.partition("=")[2] or v for v in query.split("&")) if query else "")


def _short_label(agent: str) -> str:
    """``sb3:/a/b/model.zip?x=1`` -> ``sb3:model.zip?x=1`` (legends; tables keep the whole label)."""
    base, sep, query = agent.partition("?")
    kind, colon, arg = base.partition(":")
    return (kind + colon + arg.rsplit("/", 1)[-1] if "/" in arg else base) + sep + query


def plot_success(summary: list[dict[str, Any]], path: Path) -> Path:
    """Final-step success bars per agent per env, ever-success as dashed outlines; an agent
    not run on an env has no bar there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(dict.fromkeys(s["agent"] for s in summary))
    envs = list(dict.fromkeys(s["env"] for s in summary))
    by = {(s["agent"], s["env"]): s for s in summary}
    width = 0.8 / max(len(agents), 1)
    fig, ax = plt.subplots(figsize=(min(16.0, max(7.0, 1.2 * len(envs) * max(1.0, len(agents) / 3))) + 2.5, 4))
    for k, agent in enumerate(agents):
        cells = [(i + (k - (len(agents) - 1) / 2) * width, by[(agent, e)]) for i, e in enumerate(envs) if (agent, e) in by]
        xs, color = [x for x, _ in cells], f"C{k % 10}"
        ax.bar(xs, [100 * c["success_rate"] for _, c in cells], width, color=color, label=_short_label(agent))
        ax.bar(xs, [100 * (c.get("ever_success_rate") or 0.0) for _, c in cells], width, fill=False, edgecolor=color,
               lw=1.0, ls="--")
    ax.set_xticks(range(len(envs)), [_short_env(e) for e in envs], fontsize="small")
    ax.set_ylabel("success at the last step (%)\n(dashed: ever succeeded)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_zone(summary: list[dict[str, Any]], path: Path) -> Path | None:
    """Forbidden-zone envs: success (%) against the share of steps in the zone (%), per agent."""
    zoned = [s for s in summary if s.get("zone_steps") is not None]
    if not zoned:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(s["env"] for s in zoned))
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for k, s in enumerate(s for s in zoned if s["env"] == env):
            x, y = 100 * s["zone_steps"], 100 * s["success_rate"]
            ax.scatter([x], [y], s=40, color=f"C{k % 10}", label=_short_label(s["agent"]))
            ax.annotate(f"{100 * (s.get('zone_episodes') or 0):.0f}% ep.", (x, y), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_title(_short_env(env).replace("\n", " "))
        ax.set_xlabel("steps with the object in the zone (%)")
        ax.set_ylabel("success at the last step (%)")
        ax.set_ylim(-5, 105)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
    ax.set_xticks(range(len(envs)), [_short_env(e) for e in envs], fontsize="small" if any("?" in e for e in envs) else None)
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
    """Write ``table.md``, ``scores.png``, (planners only) ``score_vs_time.png`` and (last-step goal
    envs) ``success.png`` / ``zone.png`` into ``out``."""
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
        if any(s.get("ever_success_rate") is not None for s in summary):
            written["success"] = plot_success(summary, out / "success.png")
            zone = plot_zone(summary, out / "zone.png")
            if zone is not None:
                written["zone"] = zone
    return written
