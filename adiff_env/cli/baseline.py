"""``adiff baselines train ALGO ENV_ID``: train a baseline agent and register it.

ALGO is ``sb3-sac-her`` or ``sb3-ppo`` (online, Stable-Baselines3) or ``bc``, ``iql``, ``cql``
(offline, on a Minari dataset: ``--dataset ID``). The checkpoint lands in the model registry;
evaluate it with ``--agent sb3:NAME`` / ``bc:NAME`` / ``iql:NAME`` / ``cql:NAME``.
"""

from __future__ import annotations

import argparse

from adiff_env.cli._common import CLIError, check_env_id, parse_env_kwargs, positive_int

ONLINE = {"sb3-sac-her": "sac-her", "sb3-ppo": "ppo"}
OFFLINE = ("bc", "iql", "cql")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baselines", help="train baseline agents (SB3 SAC+HER / PPO, offline BC / IQL / CQL)")
    group = p.add_subparsers(dest="baseline_command", metavar="SUBCOMMAND", required=True)
    t = group.add_parser(
        "train",
        help="train a baseline and save it in the model registry",
        description=(
            "Train ALGO on ENV_ID and register the result. Online: sb3-sac-her (SAC + HER on a GoalEnv), "
            "sb3-ppo (PPO on the flattened observation and goal). Offline on a Minari dataset (--dataset): "
            "bc, iql, cql (goal-conditioned, hindsight-relabelled, sparse reward 1 within 0.5 of the goal)."
        ),
    )
    t.add_argument("algo", choices=[*ONLINE, *OFFLINE], help="what to train")
    t.add_argument("env_id", help="environment id, e.g. adiff/PointMaze-UMaze-v0")
    t.add_argument("--steps", type=positive_int, required=True, help="env steps (online) or gradient steps (offline)")
    t.add_argument("--dataset", help="Minari dataset id (offline algorithms), e.g. adiff/pointmaze-umaze-v0")
    t.add_argument("--name", help="registry name (default ALGO-ENVNAME)")
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--run-dir", help="offline: TensorBoard events go to RUN_DIR/tb; online: SB3's tensorboard_log")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON",
        help="hyperparameter override (repeatable): an OfflineConfig field (batch_size, lr, expectile, cql_alpha...) "
        "or an SB3 constructor keyword (batch_size, learning_rate...)",
    )
    t.add_argument("--checkpoint-every", type=positive_int, metavar="STEPS",
                   help="online: also save the model every STEPS env steps under RUN_DIR/checkpoints (needs --run-dir)")
    t.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=JSON", help="online: extra gym.make keyword")
    t.add_argument("--no-collect", action="store_true",
                   help="offline: fail instead of collecting a missing dataset that a shipped recipe makes")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    overrides = parse_env_kwargs(args.set, "--set")
    check_env_id(args.env_id)
    if args.algo in ONLINE:
        if args.dataset:
            raise CLIError(f"{args.algo} trains online; drop --dataset (offline algorithms: {', '.join(OFFLINE)}).")
        from adiff_env.baselines.sb3 import train_sb3

        if args.checkpoint_every and not args.run_dir:
            raise CLIError("--checkpoint-every saves under RUN_DIR/checkpoints; give --run-dir too.")

        ckpt = train_sb3(ONLINE[args.algo], args.env_id, args.steps, seed=args.seed, name=args.name,
                         progress=not args.quiet, tensorboard_log=args.run_dir,
                         env_kwargs=parse_env_kwargs(args.env_kwarg), checkpoint_every=args.checkpoint_every,
                         checkpoint_dir=f"{args.run_dir}/checkpoints" if args.run_dir else None, **overrides)
        kind = "sb3"
    else:
        if not args.dataset:
            raise CLIError(f"{args.algo} trains offline; give --dataset ID (see 'adiff datasets list').")
        from adiff_env.baselines.offline import make_config, train_offline
        from adiff_env.datasets.recipes import ensure_dataset

        cfg = make_config(args.algo, steps=args.steps, seed=args.seed, **overrides)
        ensure_dataset(args.dataset, collect=not args.no_collect, progress=not args.quiet)
        ckpt = train_offline(args.algo, args.env_id, args.dataset, cfg, name=args.name, run_dir=args.run_dir,
                             progress=not args.quiet).checkpoint
        kind = args.algo
    print(f"saved {ckpt.spec} at {ckpt.path}")
    print(f"evaluate: uv run adiff evaluate {args.env_id} --agent {kind}:{ckpt.spec}")
    return 0
