"""``adiff bench SUITE --agents A,B,...``: agents x envs x seeds -> results.csv, table.md, PNGs."""

from __future__ import annotations

import argparse
import sys

from adiff_env import config
from adiff_env.bench.runner import BenchConfig
from adiff_env.cli._common import positive_int, split_csv


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark agents on a suite of envs: results.csv, a Markdown table, plots",
        description=(
            "Evaluate every agent on every env of SUITE (maze = U-Maze, Medium, Large; goldcoin; fetch = FetchPush, "
            "FetchPickAndPlace with goal_region both / table / air, FetchPush-Avoid) with the 'adiff evaluate' "
            "protocol: seed index s runs episodes with reset seeds s*10000 + i. Writes OUT/results.csv (one row per "
            "agent x env x seed), OUT/table.md (normalized score x100 mean ± std over seeds, success, actions/s, "
            "plans/s), OUT/scores.png and, for planners, OUT/score_vs_time.png. Finished cells are skipped on a "
            "re-run unless --force. Agent specs: KIND[:ARG][?KEY=VALUE&...], the options going to the agent "
            "(e.g. planner:pointmaze-umaze?sampler=ddim&steps=5). On the fetch suite success is the last step's "
            "(ever-success, return and zone violations are reported too), and a bare bc, iql, cql, sac-her, planner "
            "or chunk names that kind's checkpoint for each env's task (bc -> bc:bc-fetch-push on push, "
            "bc:bc-fetch-pick-place on pick-and-place); '{task}' in any spec is replaced the same way. Every "
            "checkpoint is looked up first; missing ones fail with the command that trains each (or --skip-missing)."
        ),
    )
    p.add_argument("suite", help="benchmark suite: maze (U-Maze, Medium, Large), goldcoin (Medium and Large gold-coin "
                   "mazes) or fetch (push, pick-and-place both/table/air goals, push with a forbidden zone)")
    p.add_argument("--agents", help="comma-separated agent specs, e.g. random,expert,planner:pointmaze-umaze?steps=5 "
                   "(required, except on fetch: default expert,random,bc,iql,sac-her)")
    fields = config.add_arguments(p, BenchConfig, only=["episodes", "seeds", "out", "vector", "vector_mode"],
                                  types={"episodes": positive_int, "seeds": positive_int, "vector": positive_int})
    p.add_argument("--envs", help="comma-separated subset of the suite's envs (ids or names, e.g. UMaze,Medium; fetch: "
                   "push, pick-place, pick-place-table, pick-place-air, push-avoid)")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out (agent, env) pairs whose checkpoint is missing (listed with the command that makes "
                        "each) instead of failing")
    p.add_argument("--force", action="store_true", help="re-run cells already in results.csv")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: rebuild table.md and the plots from OUT/results.csv (rows of several runs), "
                        "agents in --agents order first")
    p.add_argument("--merge", action="append", default=[], metavar="CSV",
                   help="another run's results.csv (repeatable): its cells that OUT/results.csv lacks are added to it "
                        "first (a cell OUT has keeps OUT's row; each row keeps its git commit); with --report-only, "
                        "one table from several runs")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the cells on Ray actors (extra adiff-env[ray]): a local Ray cluster, or the cluster at ADDRESS "
                        "(e.g. ray://head:10001 or auto); the same rows as without --ray")
    p.add_argument("--ray-actors", type=positive_int, help="Ray actors, one CPU each (default: the cluster's CPUs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, bench_fields=fields)


def run(args: argparse.Namespace) -> int:
    from adiff_env.bench.report import markdown_table, summarize
    from adiff_env.bench.runner import plan_cells, run_bench
    from adiff_env.bench.specs import split_agents
    from adiff_env.bench.suites import get_suite
    from adiff_env.cli._common import CLIError

    envs = split_csv(args.envs)
    suite = get_suite(args.suite)
    if args.agents is None and not suite.default_agents:
        raise CLIError(f"suite {args.suite!r} has no default agents; give --agents, e.g. --agents random,expert.")
    agents = tuple(split_agents(args.agents)) if args.agents is not None else suite.default_agents
    cfg = config.from_dict(BenchConfig, {"suite": args.suite, "agents": agents, "envs": envs, "force": args.force,
                                         "skip_missing": args.skip_missing, "report_only": args.report_only,
                                         "merge": tuple(args.merge),
                                         "progress": not args.quiet, "ray": args.ray, "ray_actors": args.ray_actors, **config.given_arguments(args, args.bench_fields)},
                           "the command's options")
    _cells, skipped = plan_cells(cfg) if not cfg.report_only else ([], [])  # kinds, options, checkpoints first
    for line in skipped:
        print(f"adiff bench: skipped {line}", file=sys.stderr)
    if cfg.ray is not None:
        from adiff_env.distributed.ray_bench import CellsFailedError

        try:
            rows = run_bench(cfg)
        except CellsFailedError as exc:
            print(f"adiff bench: error: {exc}", file=sys.stderr)
            return 1
    else:
        rows = run_bench(cfg)
    print(markdown_table(summarize(rows, list(cfg.agents))), end="")
    extra = ", success.png, zone.png" if cfg.suite == "fetch" else ""
    print(f"written: {cfg.out / 'results.csv'}, table.md, scores.png{extra}")
    return 0
