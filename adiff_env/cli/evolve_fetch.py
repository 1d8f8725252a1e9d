"""``adiff planner evolve ENV_ID --from planner:NAME --env-kwarg KEY=JSON ...``: Fetch self-evolution.

Adapts a Fetch trajectory planner to a target task it was not trained on (e.g. pick-and-place
goals in the air from table-only data) with :class:`~adiff_env.manipulation.evolve.FetchEvolveDomain`
under the shared :class:`~adiff_env.evolve.loop.EvolutionLoop`. Defaults come from
:class:`~adiff_env.manipulation.evolve.FetchEvolveConfig`::

    adiff planner evolve adiff/FetchPickAndPlace-v0 --from planner:fetch-pick-place-table \\
        --env-kwarg goal_region='"air"' --keep-env-kwarg goal_region='"table"' \\
        --name fetch-pick-place-air --rounds 5 --height-caps 0.15,0.25,0.35,0.45
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from adiff_env.cli._common import parse_env_kwargs, positive_int
from adiff_env.manipulation.evolve import BUFFER_GOALS, FetchEvolveConfig


def _defaults() -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(FetchEvolveConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _caps(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated heights in m, e.g. 0.15,0.25,0.45; got {text!r}") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated weights in [0, 1], e.g. 0.6,0.3; got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    d = _defaults()
    p = sub.add_parser(
        "evolve",
        help="adapt a Fetch planner to an unseen task (AdaptDiffuser): rollouts, filter, buffer, fine-tune, evaluate",
        description=(
            "Each round: the current planner acts closed-loop on the target task (--env-kwarg, e.g. air goals, lowered "
            "by --height-caps in the first rounds); executed episodes that succeed are kept, and with hindsight those "
            "whose block ended at rest in the target's goal region are kept with that position as their goal; the "
            "buffer is mixed with the base's dataset for fine-tuning; the candidate is evaluated on the target and on "
            "the kept task (--keep-env-kwarg) with the same reset seeds every round and registered only if its score "
            "improves. No expert data is added."),
    )
    p.add_argument("env_id", help="Fetch env id, e.g. adiff/FetchPickAndPlace-v0")
    p.add_argument("--from", dest="base", required=True, help="base planner: planner:NAME[@vK] or a checkpoint path")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=JSON",
                   help="gym.make keyword of the target task (repeatable), e.g. goal_region='\"air\"'")
    p.add_argument("--keep-env-kwarg", action="append", default=[], metavar="KEY=JSON",
                   help="gym.make keyword of the seen task whose success is kept in the score (repeatable), e.g. "
                        "goal_region='\"table\"'; none: the score is the target's success only")
    p.add_argument("--keep-weight", type=float, default=d["keep_weight"],
                   help=f"weight of the kept task in the score (default {d['keep_weight']})")
    p.add_argument("--score", choices=["weighted", "guarded"], default=d["score"],
                   help="selection score: 'weighted' (target and kept task, --keep-weight) or 'guarded' (target "
                        "success; a candidate whose kept-task success drops more than --keep-margin below the base's "
                        f"is rejected) (default {d['score']})")
    p.add_argument("--keep-margin", type=float, default=d["keep_margin"],
                   help=f"guarded score: allowed drop of the kept task's success, a share (default {d['keep_margin']})")
    p.add_argument("--goal-pull", type=_weights, default=d["goal_pull"], metavar="W1,W2,...",
                   help="per-round weight in [0, 1] of the goal pull on the held block during generation (the goal "
                        "reward's gradient in action space; the last repeating), e.g. 0.6,0.4 (default: none)")
    p.add_argument("--pull-grip", action="store_true",
                   help="generation only: close the fingers while the block is held (with or without --goal-pull)")
    p.add_argument("--pull-relay", type=float, default=d["pull_relay"], metavar="M",
                   help="generation only: until the block is held, show the planner the goal lowered to at most M m "
                        "above the table (0: on the table); the recorded episodes keep the true goal (default: off)")
    p.add_argument("--name", help="registry name of the evolved versions (default: the base's name)")
    p.add_argument("--rounds", type=positive_int, default=d["rounds"], help=f"rounds (default {d['rounds']})")
    p.add_argument("--samples", type=positive_int, default=d["samples"],
                   help=f"episodes generated per round (default {d['samples']})")
    p.add_argument("--keep-samples", type=_count, default=d["keep_samples"], metavar="N",
                   help="rehearsal: each round the current planner also acts, unaided, on N episodes of the kept task "
                        "(--keep-env-kwarg); its successes join the buffer beside the target's, labelled "
                        "infos['rehearsal'] (the buffer's --mix-ratio share covers both; --buffer-goals lifted applies "
                        f"to the target's episodes only) (default {d['keep_samples']}: none)")
    p.add_argument("--height-caps", type=_caps, default=d["height_caps"], metavar="H1,H2,...",
                   help="per-round cap (m) of the air goals' height above the table, the last repeating, e.g. "
                        "0.15,0.25,0.35,0.45 (default: none, the env's goals)")
    p.add_argument("--no-hindsight", action="store_true",
                   help="keep only episodes that reach their own goal (no relabelling)")
    p.add_argument("--explore-std", type=float, default=d["explore_std"],
                   help="generation's exploration noise (std) on the gripper's x, y, z while the block is lifted "
                        f"(default {d['explore_std']}: none)")
    p.add_argument("--explore-bias", type=float, default=d["explore_bias"],
                   help=f"std of a per-episode drift added with the exploration noise (default {d['explore_bias']})")
    p.add_argument("--hindsight-goal", choices=["final", "peak"], default=d["hindsight_goal"],
                   help="relabelled goal: the block's final resting position, or its highest held position "
                        f"(default {d['hindsight_goal']})")
    p.add_argument("--max-normalized", type=float, default=d["max_normalized"],
                   help="drop kept episodes with a state or action beyond this in the planner's normalized units "
                        f"(default {d['max_normalized']}; 0: off)")
    p.add_argument("--explore-steps", type=int, default=d["explore_steps"],
                   help=f"explore only in the first N steps of an episode, so the block settles (default {d['explore_steps']})")
    p.add_argument("--avoid-zone", action="store_true",
                   help="FetchPush-Avoid: also drop generated episodes whose block entered the forbidden zone, and score "
                        "versions by safe success (success at the last step, zone never entered; "
                        "adiff_env.manipulation.evolve_avoid)")
    p.add_argument("--no-chain", action="store_true",
                   help="start every round from the current registered version instead of the newest earlier candidate")
    p.add_argument("--finetune-steps", type=positive_int, default=d["finetune_steps"],
                   help=f"training steps per round (default {d['finetune_steps']})")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"fine-tuning peak learning rate (default {d['lr']})")
    p.add_argument("--train-batch-size", type=positive_int, help="fine-tuning batch size (default: the base's preset)")
    p.add_argument("--mix-ratio", type=float, default=d["mix_ratio"],
                   help=f"share of training windows from the buffer (default {d['mix_ratio']})")
    p.add_argument("--buffer-goals", choices=BUFFER_GOALS, default=d["buffer_goals"],
                   help="hindsight goal indices of the buffer's training windows: 'any' step, or only steps where "
                        "the block is 'lifted' (above the table + --lift-margin); windows may still start during "
                        f"the approach (default {d['buffer_goals']})")
    p.add_argument("--lift-margin", type=float, default=d["lift_margin"], metavar="M",
                   help=f"with --buffer-goals lifted: the block counts as lifted above table + M m (default {d['lift_margin']})")
    p.add_argument("--consolidate-steps", type=int, default=d["consolidate_steps"],
                   help="after each round's mixed fine-tune, this many steps on the base's own dataset alone, to win "
                        f"back the kept task (default {d['consolidate_steps']}: none)")
    p.add_argument("--eval-episodes", type=positive_int, default=d["eval_episodes"],
                   help=f"evaluation episodes per task per round (default {d['eval_episodes']})")
    p.add_argument("--eval-seed", type=int, default=d["eval_seed"],
                   help=f"reset seed of the first evaluation episode (default {d['eval_seed']}; report on others)")
    p.add_argument("--min-improvement", type=float, default=d["min_improvement"],
                   help=f"register only if the score beats the best by more than this (default {d['min_improvement']})")
    p.add_argument("--act", action="append", default=[], metavar="KEY=JSON",
                   help="acting option of the planner for generation and evaluation (repeatable), e.g. replan_every=2")
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                   help=f"envs per batched rollout (default {d['batch_size']}; 1 for reward guidance)")
    p.add_argument("--seed", type=int, default=d["seed"], help=f"seed (default {d['seed']})")
    p.add_argument("--workdir", help="run folder (default $ADIFF_HOME/evolve/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the run in the work dir after its last finished round")
    p.add_argument("--device", default=d["device"], help=f"torch device (default {d['device']})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the final state as JSON")
    p.set_defaults(func=run)
    register_workspace(sub)


def register_workspace(sub: argparse._SubParsersAction) -> None:
    """``adiff planner workspace PLANNER --name NAME --steps N``: widen a Fetch planner's
    normalizer to the task's goal region and train on its own dataset
    (:func:`~adiff_env.manipulation.workspace.rebase_planner`)."""
    from adiff_env.manipulation.workspace import WORKSPACE_MARGIN

    p = sub.add_parser(
        "workspace",
        help="widen a Fetch planner's normalizer to the task's workspace (air heights) and train on its own data",
        description=(
            "The gripper's and block's height bounds of the planner's min-max normalizer are raised to the top of "
            "pick-and-place's goal region (table + 0.45 m + margin), a property of the task, not a fit to any data; "
            "the planner then trains --steps more steps from its weights on its own preset's dataset (e.g. "
            "table goals only) and is registered as --name (parent: the input planner)."))
    p.add_argument("planner", help="planner:NAME[@vK] (a trajectory planner with a minmax normalizer)")
    p.add_argument("--env", default="adiff/FetchPickAndPlace-v0", help="Fetch env whose table height sets the bound")
    p.add_argument("--name", required=True, help="registry name of the result")
    p.add_argument("--steps", type=positive_int, required=True, help="training steps under the widened normalizer")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4; cosine schedule)")
    p.add_argument("--margin", type=float, default=WORKSPACE_MARGIN,
                   help=f"head room (m) above the highest goal (default {WORKSPACE_MARGIN})")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--run-dir", help="training run folder (default $ADIFF_HOME/runs/NAME-workspace)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --run-dir")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_workspace)


def run_workspace(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from adiff_env.cli._common import check_env_id
    from adiff_env.manipulation.workspace import rebase_planner
    from adiff_env.registry import ModelRegistry, adiff_home

    check_env_id(args.env)
    base = ModelRegistry().load(args.planner.removeprefix("planner:"), kind="trajectory-planner")
    run_dir = Path(args.run_dir) if args.run_dir else adiff_home() / "runs" / f"{args.name}-workspace"
    result = rebase_planner(base, env_id=args.env, name=args.name, steps=args.steps, lr=args.lr, run_dir=run_dir,
                            seed=args.seed, margin=args.margin, device=args.device, progress=not args.quiet,
                            resume=args.resume)
    spec = result.checkpoint.spec if result.checkpoint is not None else None
    print(json.dumps({"registered": spec, "parent": base.spec, "steps": result.steps, "wall_s": round(result.wall_s, 1),
                      "final_loss": result.final_loss, "run_dir": str(result.run_dir)}))
    return 0


def config_from_args(args: argparse.Namespace) -> FetchEvolveConfig:
    """The run's config from the parsed command line."""
    keep = parse_env_kwargs(args.keep_env_kwarg, "--keep-env-kwarg") or None
    return FetchEvolveConfig(
        env_id=args.env_id, base=args.base, env_kwargs=parse_env_kwargs(args.env_kwarg), keep_env_kwargs=keep,
        keep_weight=args.keep_weight, score=args.score, keep_margin=args.keep_margin,
        goal_pull=tuple(args.goal_pull), pull_grip=args.pull_grip, pull_relay=args.pull_relay, name=args.name, rounds=args.rounds, samples=args.samples,
        keep_samples=args.keep_samples,
        height_caps=tuple(args.height_caps), hindsight=not args.no_hindsight, chain=not args.no_chain, explore_std=args.explore_std, explore_bias=args.explore_bias, hindsight_goal=args.hindsight_goal, explore_steps=args.explore_steps, max_normalized=args.max_normalized or None, finetune_steps=args.finetune_steps,
        lr=args.lr, train_batch_size=args.train_batch_size, mix_ratio=args.mix_ratio,
        consolidate_steps=args.consolidate_steps, buffer_goals=args.buffer_goals, lift_margin=args.lift_margin,
        eval_episodes=args.eval_episodes,
        eval_seed=args.eval_seed, min_improvement=args.min_improvement, act=parse_env_kwargs(args.act, "--act"),
        batch_size=args.batch_size, seed=args.seed, device=args.device, workdir=args.workdir,
    )


def run(args: argparse.Namespace) -> int:
    from adiff_env.cli._common import check_env_id
    from adiff_env.cli.evolve import print_state
    from adiff_env.evolve.loop import EvolutionLoop
    from adiff_env.manipulation.evolve import FetchEvolveDomain

    check_env_id(args.env_id)
    if args.avoid_zone:
        from adiff_env.manipulation.evolve_avoid import FetchAvoidEvolveDomain

        domain: FetchEvolveDomain = FetchAvoidEvolveDomain(config_from_args(args))
    else:
        domain = FetchEvolveDomain(config_from_args(args))
    loop = EvolutionLoop(domain, resume=args.resume, progress=not args.quiet)
    state = loop.run()
    return print_state(state, loop.workdir, args.json)
