"""Re-score FetchPush-Avoid evolution candidates with the domain's own selection score.

    uv run python benchmarks/fetch_avoid_rescore.py --workdir $ADIFF_HOME/evolve/fetch-push-avoid-evo \\
        --rounds 1,2,3 --act hold_tolerance=0.04 --seed 40000 --episodes 40

For each round ``k`` the candidate under ``WORKDIR/rounds/rK/candidate`` is evaluated as
:class:`~adiff_env.manipulation.evolve_avoid.FetchAvoidEvolveDomain` evaluates it (batched,
reset seeds ``seed + i``), with ``--act`` acting overrides (``KEY=JSON``), and one JSON line
per round is printed: success, safe success, episodes entering the zone, steps in it, the git
commit. Used to re-score candidates whose acting options fine-tuning had dropped (before commit
2f5cf86: v4's ``hold_tolerance``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.cli._common import parse_env_kwargs
from adiff_env.manipulation.evolve import FetchEvolveConfig
from adiff_env.manipulation.evolve_avoid import FetchAvoidEvolveDomain
from adiff_env.registry import ModelRegistry, git_commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the evolve run's work dir")
    parser.add_argument("--name", default=None, help="registry name of the candidates (default: the work dir's name)")
    parser.add_argument("--rounds", default="1", help="comma-separated rounds")
    parser.add_argument("--act", action="append", default=[], metavar="KEY=JSON", help="acting override (repeatable)")
    parser.add_argument("--env", default="adiff/FetchPush-Avoid-v0")
    parser.add_argument("--seed", type=int, default=40000, help="reset seed of the first episode")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=48)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(args.workdir)
    name = args.name or work.name
    act = parse_env_kwargs(args.act, "--act")
    cfg = FetchEvolveConfig(env_id=args.env, base="planner:unused", hindsight=False, eval_episodes=args.episodes,
                            eval_seed=args.seed, batch_size=args.batch_size, act=act)
    domain = FetchAvoidEvolveDomain(cfg)
    for k in [int(r) for r in args.rounds.split(",") if r.strip()]:
        checkpoint = ModelRegistry(work / "rounds" / f"r{k}" / "candidate", read_only_roots=[]).load(
            name, kind="trajectory-planner")
        summary = domain.zone_summary(domain.rollouts(checkpoint))
        print(json.dumps({"round": k, "act": act, **summary, "git_commit": git_commit()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
