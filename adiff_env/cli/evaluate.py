"""``adiff evaluate ENV_ID --agent AGENT``: the evaluation contract (see ``evaluation.py``)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate an agent on an env; --json prints one JSON object",
        description=(
            "Run AGENT for N episodes on ENV_ID with reset seeds S, S+1, ... and report the mean "
            "return, the D4RL normalized score (0-1 and x100 scales) and the success rate. "
            "AGENT is KIND or KIND:ARG, e.g. random, expert, expert-tuned, planner:NAME[@vN]."
        ),
    )
    p.add_argument("env_id", help="environment id, e.g. adiff/PointMaze-UMaze-v0")
    p.add_argument("--agent", required=True, help="agent spec KIND[:ARG]; 'adiff envs agents' lists kinds")
    p.add_argument("--episodes", type=positive_int, default=10, help="number of episodes (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument(
        "--env-kwarg",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="extra gym.make keyword, value parsed as JSON (repeatable), e.g. --env-kwarg max_episode_steps=100",
    )
    p.add_argument("--tasks", help="code envs: task suite, e.g. procedural:test, humaneval or a .jsonl path "
                   "(same as --env-kwarg tasks=...)")
    p.add_argument("--sampler", choices=["ddim", "ddpm"], help="planners: override the checkpoint's sampler")
    p.add_argument("--steps", type=positive_int, help="planners and coders: reverse diffusion steps (ddpm: default the "
                   "training count)")
    p.add_argument("--device", help="planners and coders: torch device to act on, e.g. cuda (default: the agent's, cpu)")
    p.add_argument(
        "--agent-option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="keyword option for the agent's factory (repeatable), e.g. --agent-option replan_every=4",
    )
    p.set_defaults(func=run)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (underscores allowed, as in 1_000_000)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def parse_env_kwargs(pairs: list[str], flag: str = "--env-kwarg") -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=JSON, got {pair!r}.")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string such as layout=umaze
    return out


def agent_options(args: argparse.Namespace) -> dict:
    """``--sampler``/``--steps`` and ``--agent-option`` pairs as the agent factory's keywords."""
    options = parse_env_kwargs(args.agent_option, "--agent-option")
    if args.sampler is not None:
        options["sampler"] = args.sampler
        if args.sampler == "ddpm" and args.steps is None:
            options["steps"] = 0  # 0 = the training step count
    if args.steps is not None:
        options["steps"] = args.steps
    if getattr(args, "device", None):
        options["device"] = args.device
    return options


def run(args: argparse.Namespace) -> int:
    from adiff_env.evaluation import evaluate

    result = evaluate(
        args.env_id,
        args.agent,
        episodes=args.episodes,
        seed=args.seed,
        env_kwargs={**parse_env_kwargs(args.env_kwarg), **({"tasks": args.tasks} if args.tasks else {})},
        progress=not args.json,
        agent_options=agent_options(args),
    )
    print(result.to_json() if args.json else result.summary())
    return 0
