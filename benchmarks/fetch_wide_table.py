"""The Fetch table of docs/benchmarks.md from an ``adiff bench fetch`` results.csv: one row per
agent, one column per env, each cell ``final-step success / ever · normalized score x100
(mean ± std over seeds)``, then episodes/s and plans/s (all the agent's cells together).

    uv run python benchmarks/fetch_wide_table.py RESULTS_CSV [--agents A,B,...] [--names A=label,...]

Agents in ``--agents`` order (others after); ``--names`` gives table labels; ``-`` where an agent
has no cell on an env.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adiff_env.bench.cells import read_results
from adiff_env.bench.report import summarize
from adiff_env.bench.suites import get_suite

COLUMNS = {"adiff/FetchPush-v0": "push", "adiff/FetchPickAndPlace-v0?goal_region=both": "pick-place (both)",
           "adiff/FetchPickAndPlace-v0?goal_region=table": "pick-place table",
           "adiff/FetchPickAndPlace-v0?goal_region=air": "pick-place air", "adiff/FetchPush-Avoid-v0": "push-avoid"}


def wide_table(rows: list[dict], agents: list[str], names: dict[str, str]) -> str:
    summary = summarize(rows, agents, list(get_suite("fetch").envs))
    by = {(s["agent"], s["env"]): s for s in summary}
    order = list(dict.fromkeys(s["agent"] for s in summary))
    lines = ["| agent | " + " | ".join(COLUMNS.values()) + " | episodes/s | plans/s |",
             "|---|" + "---|" * (len(COLUMNS) + 2)]
    for agent in order:
        cells, eps, wall, plans = [], 0, 0.0, 0.0
        for env in COLUMNS:
            s = by.get((agent, env))
            if s is None:
                cells.append("-")
                continue
            ever = "" if s.get("ever_success_rate") is None else f" / {s['ever_success_rate']:.0%}"
            score = "" if s["score_mean"] is None else f" · {s['score_mean']:.1f} ± {s['score_std']:.1f}"
            cells.append(f"{s['success_rate']:.0%}{ever}{score}")
            agent_rows = [r for r in rows if r["agent"] == agent and r["env"] == env]
            eps += sum(int(r["episodes"]) for r in agent_rows)
            wall += sum(float(r["wall_s"]) for r in agent_rows if r.get("wall_s"))
            plans += sum(float(r["plans"]) for r in agent_rows if r.get("plans"))
        rate = f"{eps / wall:.2f}" if wall > 0 else "–"
        plan_rate = f"{plans / wall:.1f}" if wall > 0 and plans > 0 else "–"
        lines.append(f"| {names.get(agent, agent)} | " + " | ".join(cells) + f" | {rate} | {plan_rate} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("--agents", default="", help="comma-separated agent labels, in table order")
    p.add_argument("--names", default="", help="comma-separated LABEL=NAME pairs for the table")
    args = p.parse_args()
    names = dict(item.split("=", 1) for item in args.names.split(",") if "=" in item)
    print(wide_table(read_results(args.results), [a for a in args.agents.split(",") if a], names), end="")


if __name__ == "__main__":
    main()
