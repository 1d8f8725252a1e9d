"""``adiff evaluate ENV_ID --agent AGENT``: the evaluation contract (see ``evaluation.py``)."""

from __future__ import annotations

import argparse

from adiff_env.cli._common import check_env_id, parse_env_kwargs, positive_int

__all__ = ["agent_options", "parse_env_kwargs", "positive_int", "register", "run"]  # the last three: older imports


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate an agent on an env; --json prints one JSON object",
        description=(
            "Run AGENT for N episodes on ENV_ID with reset seeds S, S+1, ... and report the mean "
            "return, the D4RL normalized score (0-1 and x100 scales) and the success rate. "
            "AGENT is KIND[:ARG][?KEY=VALUE&...], e.g. random, expert, expert-tuned, planner:NAME[@vN]?steps=5; "
            "its options are checked against the agent's acting config before any checkpoint is read."
        ),
    )
    p.add_argument("env_id", help="environment id, e.g. adiff/PointMaze-UMaze-v0")
    p.add_argument("--agent", required=True, help="agent spec KIND[:ARG][?KEY=VALUE&...]; 'adiff agents list' lists kinds")
    defaults = _defaults()
    p.add_argument("--episodes", type=positive_int, default=defaults["episodes"],
                   help=f"number of episodes (default {defaults['episodes']})")
    p.add_argument("--seed", type=int, default=defaults["seed"], help=f"seed of the first episode (default {defaults['seed']})")
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
    p.add_argument("--sampler", choices=["ddim", "ddpm", "consistency"], help="planners: override the checkpoint's sampler "
                   "(same as ?sampler=...)")
    p.add_argument("--steps", type=positive_int, help="planners and coders: reverse diffusion steps (ddpm: default the "
                   "training count; same as ?steps=N)")
    p.add_argument("--device", help="planners and coders: torch device to act on, e.g. cuda (default: the agent's, cpu)")
    p.add_argument(
        "--agent-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="agent option (repeatable), the same as KEY=VALUE after '?' in --agent, e.g. --agent-option replan_every=4",
    )
    p.set_defaults(func=run)


def _defaults() -> dict:
    """The defaults of :func:`adiff_env.evaluation.evaluate` (one source for the CLI and the API)."""
    import inspect

    from adiff_env.evaluation import evaluate

    return {k: p.default for k, p in inspect.signature(evaluate).parameters.items()}


def agent_options(args: argparse.Namespace) -> dict:
    """``--sampler``/``--steps`` and ``--agent-option`` pairs as agent options (text values,
    typed by the agent kind's check)."""
    from adiff_env.agents import parse_option_pairs

    options: dict = dict(parse_option_pairs(args.agent_option))
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
    from adiff_env.agents import check_agent
    from adiff_env.evaluation import evaluate

    options = agent_options(args)
    check_agent(args.agent, options, resolve=True)  # names and values, then the model exists; no weights yet
    check_env_id(args.env_id)
    result = evaluate(
        args.env_id,
        args.agent,
        episodes=args.episodes,
        seed=args.seed,
        env_kwargs={**parse_env_kwargs(args.env_kwarg), **({"tasks": args.tasks} if args.tasks else {})},
        progress=not args.json,
        agent_options=options or None,
    )
    print(result.to_json() if args.json else result.summary())
    return 0

