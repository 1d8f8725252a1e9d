"""``adiff maze evolve ENV_ID --from planner:NAME --rounds R --samples N``: AdaptDiffuser self-evolution."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adiff_env.cli._common import positive_int
from adiff_env.cli.evaluate import parse_env_kwargs
from adiff_env.maze.evolve import EVAL_SEED
from adiff_env.maze.filter import DEFAULT_EPSILON


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="self-evolve a planner (AdaptDiffuser): guided generation, filter, buffer, fine-tune, evaluate",
        description=(
            "Each round: reward-guided plans for random start/goal pairs, kept only if the real env can execute "
            "them (executed rollouts go to a trajectory buffer), fine-tuning on the original data + buffer, "
            "evaluation with the 'adiff evaluate' protocol (same seeds every round); a new registry version is "
            "written only when the score improves. Prints a per-round table; TensorBoard scalars and "
            "score_by_round.png go to the work dir."
        ),
    )
    p.add_argument("env_id", help="target env, e.g. adiff/PointMaze-Medium-v0 or adiff/PointMaze-Medium-GoldCoin-v0")
    p.add_argument("--from", dest="base", required=True, help="base planner: planner:NAME[@vK] or a checkpoint path")
    p.add_argument("--name", help="registry name of the evolved versions (default: the base's name)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--samples", type=int, default=64, help="start/goal pairs generated per round (default 64)")
    p.add_argument("--candidates", type=int, default=4, help="plans sampled per pair, best by reward kept (default 4)")
    p.add_argument("--reward", action="append", default=[], metavar="NAME=WEIGHT",
                   help="task reward term (repeatable; default goal=1 path-length=0.02 free-cells=1 coins=1)")
    p.add_argument("--guidance-scale", type=float, default=0.1, help="reward-gradient guidance scale (default 0.1)")
    p.add_argument("--deadline", choices=["geodesic", "horizon"], help="goal index of generated plans "
                   "(default geodesic; horizon on gold-coin envs, leaving time for detours)")
    p.add_argument("--generation", choices=["open-loop", "closed-loop"], default="open-loop",
                   help="open-loop: filter whole plans by executing them (AdaptDiffuser); closed-loop: the guided planner "
                   "drives the env receding-horizon and successful executed episodes are kept (for planners whose "
                   "open-loop plans are not dynamically consistent)")
    p.add_argument("--faster-than", metavar="AGENT",
                   help="keep only rollouts that reach the goal no later than AGENT (e.g. expert-tuned) on the same "
                   "reset (AdaptDiffuser's 'better than the data', in time to the goal)")
    p.add_argument("--faster-margin", type=int, default=0, metavar="STEPS",
                   help="with --faster-than: arrive at least STEPS steps before it (default 0: ties kept)")
    p.add_argument("--min-turns", type=int, default=0, metavar="N",
                   help="mazes: draw only start/goal pairs whose shortest cell route turns at least N times (routes "
                        "where cutting a corner can beat the expert; default 0: any pair)")
    p.add_argument("--epsilon", type=float, default=DEFAULT_EPSILON, help=f"filter tolerance (default {DEFAULT_EPSILON})")
    p.add_argument("--finetune-steps", type=int, default=500, help="training steps per round (default 500)")
    p.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate (default 1e-4)")
    p.add_argument("--mix-ratio", type=float, default=0.3, help="share of training windows from the buffer (default 0.3)")
    p.add_argument("--min-reward", type=float, help="buffer quality filter: executed trajectories whose task reward is "
                   "below this stay out (e.g. 5 with --reward coins=10 keeps only those that took a coin)")
    p.add_argument("--top-quantile", type=float, help="buffer quality filter: keep trajectories above this reward quantile "
                   "of the buffer (e.g. 0.5)")
    p.add_argument("--require-coins", action="store_true",
                   help="gold-coin mazes: keep only generated episodes that took every coin and reached the goal")
    p.add_argument("--speed-weight", type=float, default=0.0,
                   help="gold-coin mazes: the selection score adds this x the normalized score x100 (a faster tour), "
                        "a tie-break between versions with the same coins and success (default 0: off)")
    p.add_argument("--min-improvement", type=float, default=0.0,
                   help="register a round's version only if its score beats the best by more than this (default 0; "
                   "the per-episode score spread is large, so e.g. 2-3 points on 40 episodes guards against noise)")
    p.add_argument("--act", action="append", default=[], metavar="KEY=JSON",
                   help="acting option of the planner for generation, evaluation (baseline included) and the evolved "
                   "versions (repeatable), e.g. --act deadline_speed=0.025 to leave time for gold-coin detours")
    p.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per round (default 20)")
    p.add_argument("--eval-seed", type=int, default=EVAL_SEED,
                   help=f"seed of the first evaluation episode (default {EVAL_SEED}: disjoint from adiff bench's reset seeds)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--workdir", help="run folder (default $ADIFF_HOME/evolve/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the run in the work dir after its last finished round")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--shards", type=positive_int, help="generation shards per round (default 1, or --ray-actors with --ray); the "
                   "same count gives the same rollouts locally and on Ray (each shard has seeds of its own)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run each round's generation and consistency filter on Ray actors (extra adiff-env[ray]): a local "
                        "Ray cluster, or the cluster at ADDRESS (e.g. auto); the buffer, fine-tuning and registration "
                        "stay here")
    p.add_argument("--ray-actors", type=positive_int, help="Ray actors, one CPU each (default: the cluster's CPUs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the final state as JSON")
    p.set_defaults(func=run)


def parse_weights(pairs: list[str]) -> dict[str, float] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise ValueError(f"--reward expects NAME=WEIGHT, e.g. path-length=0.05; got {pair!r}.")
    return out


def run(args: argparse.Namespace) -> int:
    from adiff_env.errors import UnknownNameError
    from adiff_env.evolve.loop import EvolutionLoop
    from adiff_env.maze.evolve import MazeEvolveConfig, MazeEvolveDomain
    from adiff_env.maze.rewards import maze_reward_factories

    weights = parse_weights(args.reward)
    if weights:
        known = maze_reward_factories()
        for name in weights:
            if name not in known:
                raise UnknownNameError("reward", name, known)
    deadline = args.deadline or ("horizon" if "GoldCoin" in args.env_id else "geodesic")
    kwargs = dict(
        env_id=args.env_id, base=args.base, name=args.name, rounds=args.rounds, samples=args.samples,
        candidates=args.candidates, generation=args.generation, guidance_scale=args.guidance_scale, deadline=deadline, epsilon=args.epsilon,
        finetune_steps=args.finetune_steps, lr=args.lr, mix_ratio=args.mix_ratio, eval_episodes=args.eval_episodes,
        min_improvement=args.min_improvement, min_reward=args.min_reward, top_quantile=args.top_quantile, act=parse_env_kwargs(args.act, "--act"),
        eval_seed=args.eval_seed, seed=args.seed, device=args.device, workdir=args.workdir,
        faster_than=args.faster_than, faster_margin=args.faster_margin, min_turns=args.min_turns,
        require_coins=args.require_coins, speed_weight=args.speed_weight,
        shards=args.shards or (args.ray_actors if args.ray is not None and args.ray_actors else 1),
    )
    if weights:
        kwargs["reward_weights"] = weights
    from adiff_env.cli._ray import ray_executor

    executor = ray_executor(args, args.device)
    try:
        loop = EvolutionLoop(MazeEvolveDomain(MazeEvolveConfig(**kwargs)), resume=args.resume, progress=not args.quiet,
                             executor=executor)
        state = loop.run()
    finally:
        if executor is not None:
            executor.close()
    return print_state(state, loop.workdir, args.json)


def print_state(state: Any, workdir: Any, as_json: bool) -> int:
    """An evolution run's outcome on stdout (one JSON object with ``--json``); the exit code 0."""
    if as_json:
        print(json.dumps(state.to_dict(), default=str))
    else:
        print(f"current version: {state.current} (baseline {state.baseline:.2f}, best {state.best_score:.2f}); "
              f"work dir {workdir}")
    return 0
