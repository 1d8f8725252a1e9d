"""``adiff maze train|evolve``: the maze domain's planner training and self-evolution.

    adiff maze train adiff/PointMaze-UMaze-v0 --preset pointmaze-umaze [--steps N ...]
    adiff maze evolve adiff/PointMaze-Medium-v0 --from planner:pointmaze-medium --rounds 1
    adiff maze distill pointmaze-umaze --steps 1200

``train`` checks everything before it starts: the preset (typed, :mod:`adiff_env.config`),
the env id, and the dataset -- a missing dataset that a shipped recipe makes is collected
then and there (``--no-collect``: fail with the command that collects it). ``evolve`` is
mounted from :mod:`adiff_env.cli.evolve` without importing it until it runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adiff_env import config
from adiff_env.cli._common import CLIError, check_env_id, mount_lazily, positive_int
from adiff_env.planners.preset import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("maze", help="maze planners: train one on a Minari dataset, self-evolve it",
                       description="The diffusion trajectory planner on PointMaze: training (Diffuser) and "
                                   "self-evolution (AdaptDiffuser).")
    cmds = p.add_subparsers(dest="maze_command", metavar="SUBCOMMAND", required=True)
    add_train_command(cmds)
    mount_lazily(cmds, "distill", "adiff_env.cli.distill", prog="adiff maze",
                 help="distil a planner into a one/two-step consistency planner (a new version, parent = the teacher)")
    mount_lazily(cmds, "evolve", "adiff_env.cli.evolve", prog="adiff maze", preflight=preflight_evolve,
                 help="self-evolve a planner (AdaptDiffuser): guided generation, filter, buffer, fine-tune, evaluate; "
                      "--from takes planner:NAME[@vK][?KEY=VALUE&...] (acting options), --no-collect as in train")


def add_train_command(cmds: argparse._SubParsersAction) -> None:
    """``train`` under ``adiff maze`` and under its domain-neutral alias ``adiff planner`` (any
    env with a preset: mazes, Fetch)."""
    t = cmds.add_parser(
        "train",
        help="train a diffusion trajectory planner on a Minari dataset",
        description=(
            "Train a Diffuser-style planner (EMA weights, AdamW + warmup/cosine LR, TensorBoard "
            "events, periodic evaluation) and register it in the model registry ($ADIFF_HOME). "
            "Options given here override the preset's [train] table. A missing dataset that a "
            "recipe makes (datasets/*.toml, or --recipe) is collected first."
        ),
    )
    t.add_argument("env_id", help="env the planner acts in (overrides the preset's), e.g. adiff/PointMaze-UMaze-v0")
    t.add_argument("--preset", required=True, help="preset TOML path or name in planners/, e.g. pointmaze-umaze")
    t.add_argument("--dataset", help="Minari dataset id (default: the preset's)")
    t.add_argument("--name", help="registry name of the model (default: the preset's)")
    t.add_argument("--recipe", help="recipe (TOML path or shipped name) that makes the dataset if it is missing "
                   "(default: the shipped recipe with that dataset id)")
    t.add_argument("--no-collect", action="store_true",
                   help="fail instead of collecting a missing dataset (the error gives the command)")
    t.add_argument("--run-dir", type=Path, help="run directory (TensorBoard, resume state); default $ADIFF_HOME/runs/NAME-TIME")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last resume.pt")
    t.add_argument("--init-from", metavar="planner:NAME[@vK]",
                   help="fine-tune: start from this trajectory planner's weights (model, EMA, inverse dynamics) and keep "
                        "its normalizer; the preset must build the same network. The new version records it as parent")
    t.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1, mps (default cpu; with --nproc, "
                   "cuda gives rank r the GPU cuda:LOCAL_RANK)")
    t.add_argument("--nproc", type=positive_int, default=1, help="data-parallel ranks on this machine under torchrun "
                   "(DDP: gloo on CPU, NCCL on CUDA); --batch-size is per rank. The command for several nodes is printed")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train, train_fields=config.add_arguments(
        t, TrainConfig, title="training (the preset's [train] table)", default_note="default: the preset's"))


def run_train(args: argparse.Namespace) -> int:
    from adiff_env.datasets.recipes import ensure_dataset
    from adiff_env.planners.preset import load_preset

    if args.resume and args.run_dir is None:
        raise CLIError("--resume needs --run-dir naming the run to continue.")
    preset = load_preset(args.preset)
    top = {"env": check_env_id(args.env_id)}
    if args.dataset:
        top["dataset"] = args.dataset
    if args.name:
        top["name"] = args.name
    preset = config.replace(preset, {"train": config.given_arguments(args, args.train_fields), **top},
                            f"preset {args.preset} with the command's options")
    init_from = load_init_from(args.init_from) if args.init_from else None  # before any data is collected
    from adiff_env.distributed import ddp

    if not ddp.under_torchrun():  # ranks trust their launcher's checks
        ensure_dataset(preset.dataset, collect=not args.no_collect, progress=not args.quiet, recipe=args.recipe)
    if args.nproc > 1 and not ddp.under_torchrun():
        return _launch(args, preset)

    from adiff_env.planners.train import train_planner

    with ddp.process_group(args.device) as (_world, device):
        result = train_planner(preset, run_dir=args.run_dir, resume=args.resume, device=device, progress=not args.quiet,
                               init_from=init_from)
    if result.checkpoint is None:  # ranks other than 0
        return 0
    print(f"registered {result.checkpoint.spec} at {result.checkpoint.path}")
    print(f"run dir {result.run_dir} ({result.steps} steps, {result.wall_s:.0f} s, final loss {result.final_loss:.4f})")
    if result.scores:
        print(f"last evaluation: {result.scores}")
    return 0


def load_init_from(spec: str):
    """The checkpoint ``--init-from`` names (``planner:NAME[@vK]`` or ``NAME[@vK]``), which must
    be a trajectory planner named without acting options."""
    from adiff_env.planners.trajectory import KIND
    from adiff_env.registry import ModelRegistry

    name = spec.removeprefix("planner:")
    if not name or "?" in name or ":" in name:
        raise CLIError(f"--init-from {spec!r}: give planner:NAME[@vK] (acting options do not apply to training).")
    return ModelRegistry().load(name, kind=KIND)  # unknown name, wrong kind, bad files: UserErrors (exit 2)


def _launch(args: argparse.Namespace, preset) -> int:
    """Run this command as ``--nproc`` torchrun ranks; every rank gets the same run dir."""
    from adiff_env.distributed import ddp
    from adiff_env.planners.train import default_run_dir

    run_dir = args.run_dir or default_run_dir(preset.name)
    argv = child_argv(args, run_dir)
    print(f"training on {args.nproc} ranks (torchrun, {ddp.backend_for(args.device)}), global batch "
          f"{preset.train.batch_size} x {args.nproc} = {preset.train.batch_size * args.nproc}")
    print(f"on several nodes, run on each (same endpoint and id; --nnodes = node count):\n  {ddp.multinode_hint(args.nproc, argv)}")
    return ddp.launch(args.nproc, argv)


def child_argv(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """The ``adiff`` arguments each rank runs: this command without ``--nproc``, with ``--run-dir``."""
    argv = ["--threads", str(args.threads)] if getattr(args, "threads", None) else []
    argv += ["maze", "train", args.env_id, "--preset", str(args.preset), "--run-dir", str(run_dir), "--device", args.device,
             "--no-collect"]
    for flag in ("dataset", "name", "recipe", "init_from"):
        if getattr(args, flag) is not None:
            argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    for name, value in config.given_arguments(args, args.train_fields).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            argv += [flag, str(value)]
    for flag in ("resume", "quiet"):
        if getattr(args, flag):
            argv.append(f"--{flag}")
    return argv


def preflight_evolve(argv: list[str]) -> list[str]:
    """Checks ``adiff maze evolve`` runs before its command module loads (torch, MuJoCo):
    the env id; ``--from`` (``planner:NAME[@vK][?KEY=VALUE&...]``): its options against the
    acting config, then the checkpoint (registry lookup, metadata only); its training dataset
    (collected now if a recipe makes it, unless ``--no-collect``). Returns ``argv`` for the
    command: ``--no-collect`` dropped, ``?KEY=VALUE`` options turned into ``--act KEY=VALUE``."""
    from adiff_env.agents import check_agent
    from adiff_env.datasets.recipes import ensure_dataset
    from adiff_env.registry import METADATA, ModelRegistry, _read_json

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("env_id", nargs="?")
    pre.add_argument("--from", dest="base")
    pre.add_argument("--no-collect", action="store_true")
    pre.add_argument("--quiet", action="store_true")
    pre.add_argument("--resume", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if "-h" in argv or "--help" in argv or known.base is None:
        return argv  # the command's own parser prints help or the usage error
    out = [a for a in argv if a != "--no-collect"]
    if known.env_id:
        check_env_id(known.env_id)
    spec = check_agent(known.base if ":" in known.base or "/" in known.base else f"planner:{known.base}")
    if spec.kind != "planner":
        raise CLIError(f"--from takes a planner (planner:NAME[@vK][?KEY=VALUE&...] or a checkpoint path), got {known.base!r}.")
    extra = {k: v for k, v in spec.options.items() if k not in ("sampler", "steps", "device")}
    if len(extra) != len(spec.options):
        raise CLIError("--from takes acting options (ActConfig fields such as replan_every); sampler/steps/device "
                       "are fixed by the checkpoint and --device.")
    meta = _read_json(ModelRegistry().resolve(spec.arg) / METADATA)
    if meta.get("dataset"):
        ensure_dataset(meta["dataset"], collect=not known.no_collect, progress=not known.quiet)
    if spec.options:
        index = out.index(known.base) if known.base in out else None
        if index is not None:
            out[index] = spec.base
        else:  # --from=SPEC
            out = [f"--from={spec.base}" if a == f"--from={known.base}" else a for a in out]
        for key, value in spec.options.items():
            out += ["--act", f"{key}={json.dumps(value)}"]
    return out
