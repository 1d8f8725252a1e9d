"""``adiff code corpus|train|passk|evolve|tasks``: the code planner's data, training, pass@k,
self-evolution and task suites.

Commands that run programs in Docker check the engine and the sandbox image first and name the
command that fixes what is missing (``uv run adiff sandbox build --offline``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adiff_env import config
from adiff_env.cli import tasks as _tasks
from adiff_env.cli._common import CLIError, positive_int, require_sandbox
from adiff_env.code.config import CoderTrainConfig
from adiff_env.code.tasks.procedural import SPLITS
from adiff_env.errors import ConfigError, MissingResourceError

_SPLITS = list(SPLITS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("code", help="code planner: corpus, training, pass@k, self-evolution, task suites",
                       description="The masked-diffusion code planner (and its autoregressive baseline): "
                                   "training corpus, training, pass@k of raw samples, self-evolution, task suites.")
    cmds = p.add_subparsers(dest="code_command", metavar="SUBCOMMAND", required=True)

    c = cmds.add_parser("corpus", help="build the training corpus (verified reference programs) as JSONL")
    c.add_argument("--out", required=True, help="output .jsonl path (written atomically)")
    c.add_argument("--seeds", default="1000:1300", help="task seeds START:STOP of the train families (>= 1000; "
                   "0..999 are evaluation tasks). Default 1000:1300")
    c.add_argument("--sandbox", choices=["docker", "process"], default="docker",
                   help="where every program is verified against its task's tests (default docker)")
    c.add_argument("--no-rename", action="store_true", help="no renamed copies of the programs")
    c.add_argument("--split", choices=_SPLITS, default="train",
                   help="families of the corpus: train (default), compose-train, mixed-train (both), ...")
    c.add_argument("--workers", type=positive_int, default=1, help="tasks checked at once (default 1)")
    c.set_defaults(func=run_corpus)

    t = cmds.add_parser("train", help="train a coder (masked diffusion, or the autoregressive baseline) and register it",
                        description="Train a coder and register it. Defaults: the --preset's [train] table "
                                    "(planners/code/*.toml), else CoderTrainConfig's; options given here override them.")
    t.add_argument("--preset", help="coder preset TOML path or name in planners/code/, e.g. coder-default "
                   "(default: CoderTrainConfig's defaults and the stock acting rules)")
    t.add_argument("--corpus", help="corpus .jsonl (default: build the default corpus first)")
    t.add_argument("--name", help="registry name (default: the preset's, else coder / coder-ar)")
    t.add_argument("--sandbox", choices=["docker", "process"], default="docker",
                   help="where the periodic evaluation runs programs (default docker)")
    t.add_argument("--run-dir", help="run directory (TensorBoard, resume.pt); default $ADIFF_HOME/runs/NAME-TIME")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last resume.pt")
    t.add_argument("--nproc", type=positive_int, default=1, help="data-parallel ranks on this machine under torchrun "
                   "(DDP, gloo); --batch-size is per rank (global batch N x B, the same training as one process with "
                   "batch N x B). Without --corpus the default corpus is built once, into the run dir. The command "
                   "for several nodes is printed")
    t.add_argument("--init-from", help="fine-tune this coder (coder:default, coder:NAME[@vK]) instead of training "
                   "from scratch: its weights, its model size, and its vocabulary grown by the corpus's new tokens")
    t.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default cpu; with --nproc, "
                   "cuda gives rank r the GPU cuda:LOCAL_RANK and NCCL)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train, train_fields=config.add_arguments(
        t, CoderTrainConfig, title="training (CoderTrainConfig; the preset's [train] table)",
        flags={"n_layers": ["--layers"]}))

    k = cmds.add_parser("passk", help="pass@k of a coder's raw samples on unseen tasks (JSON)")
    k.add_argument("--agent", required=True, help="coder:NAME[@vK] | coder:PATH | coder:default | coder:hf:PATH")
    k.add_argument("--split", choices=_SPLITS, default="train",
                   help="train: unseen instances of the training families; test: held-out families")
    k.add_argument("--per-family", type=positive_int, default=10, help="tasks per family (seeds START..START+N-1; default 10)")
    k.add_argument("--start", type=int, default=0, help="first task seed START (default 0; seeds stay below 1000)")
    k.add_argument("--samples", type=positive_int, default=10, help="programs per task, n (default 10)")
    k.add_argument("--steps", type=positive_int, help="denoising steps (default: the checkpoint's)")
    k.add_argument("--temperature", type=float, help="sampling temperature (default: the checkpoint's)")
    k.add_argument("--sandbox", choices=["docker", "process"], default="docker",
                   help="where the tests run (default docker)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--per-task", action="store_true", help="include one row per task")
    k.set_defaults(func=run_passk)

    e = cmds.add_parser("evolve", help="self-evolve a coder: sample, test in the sandbox, buffer, fine-tune, evaluate")
    e.add_argument("--from", dest="base", required=True, help="base coder: coder:NAME[@vK] or a checkpoint path")
    e.add_argument("--name", help="registry name of the evolved versions (default: the base's)")
    e.add_argument("--corpus", help="corpus .jsonl mixed into fine-tuning (default: rebuild the default corpus)")
    e.add_argument("--rounds", type=positive_int, default=3, help="rounds (default 3)")
    e.add_argument("--gen-split", choices=_SPLITS, default="train", help="families of the generation tasks")
    e.add_argument("--gen-per-family", type=positive_int, default=20, help="generation tasks per family per round (default 20)")
    e.add_argument("--samples", type=positive_int, default=16, help="programs sampled per generation task (default 16)")
    e.add_argument("--finetune-steps", type=positive_int, default=300, help="training steps per round (default 300)")
    e.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate (default 3e-4)")
    e.add_argument("--mix-ratio", type=float, default=0.5, help="share of each batch from the buffer (default 0.5)")
    e.add_argument("--eval-split", choices=_SPLITS, default="train", help="families of the evaluation tasks")
    e.add_argument("--eval-per-family", type=positive_int, default=10, help="evaluation tasks per family (default 10)")
    e.add_argument("--eval-samples", type=positive_int, default=4, help="samples per evaluation task (default 4)")
    e.add_argument("--sandbox", choices=["docker", "process"], default="docker", help="where tests run (default docker)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu", help="torch device for sampling and fine-tuning, e.g. cuda (default cpu; "
                   "Ray actors get one GPU each with cuda)")
    e.add_argument("--workdir", help="run folder (default $ADIFF_HOME/evolve/NAME)")
    e.add_argument("--resume", action="store_true", help="continue after the last finished round")
    e.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run each round's sampling and sandbox tests on Ray actors (extra adiff-env[ray]), each with its "
                        "own sandbox: a local Ray cluster, or the cluster at ADDRESS (e.g. auto); the buffer, fine-tuning "
                        "and registration stay here")
    e.add_argument("--ray-actors", type=positive_int, help="Ray actors, one CPU each (default: the cluster's CPUs)")
    e.add_argument("--shards", type=positive_int, help="generation shards per round (default 1, or --ray-actors with "
                   "--ray); every task keeps its own seed, so the programs do not depend on it")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.add_argument("--json", action="store_true", help="print the final state as JSON")
    e.set_defaults(func=run_evolve)

    _tasks.register(cmds)


def _seeds(text: str) -> range:
    start, sep, stop = text.partition(":")
    try:
        out = range(int(start), int(stop))
    except ValueError:
        raise ConfigError(f"--seeds expects START:STOP, e.g. 1000:1300; got {text!r}.") from None
    if not sep or len(out) == 0:
        raise ConfigError(f"--seeds expects START:STOP with START < STOP, got {text!r}.")
    return out


def run_corpus(args: argparse.Namespace) -> int:
    from adiff_env.code.corpus import build_corpus, save_corpus

    seeds = _seeds(args.seeds)
    require_sandbox(args.sandbox)
    examples = build_corpus(split=args.split, seeds=seeds, sandbox=args.sandbox, rename=not args.no_rename,
                            workers=args.workers)
    save_corpus(examples, args.out)
    print(f"wrote {len(examples)} verified programs to {args.out}")
    return 0


def _check_corpus(path: str | None) -> None:
    if path and not Path(path).is_file():
        raise MissingResourceError(f"corpus {path} does not exist; build it with `uv run adiff code corpus --out {path}`.")


def _corpus(path: str | None) -> list:
    from adiff_env.code.corpus import build_corpus, load_corpus

    return load_corpus(path) if path else build_corpus()


def run_train(args: argparse.Namespace) -> int:
    from adiff_env.code.config import CoderActConfig, load_coder_preset

    given = config.given_arguments(args, args.train_fields)
    if args.preset:
        preset = load_coder_preset(args.preset)
        cfg = config.replace(preset.train, given, f"{args.preset} [train] with the command's options")
        act, name = config.to_dict(preset.act), args.name or preset.name
    else:
        cfg = CoderTrainConfig.from_dict(given, "the command's options")
        act, name = _default_act(cfg.arch), args.name or ("coder" if cfg.arch == "diffusion" else "coder-ar")
    CoderActConfig.from_dict(act, "acting rules")  # checked before any work
    if args.resume and args.run_dir is None:
        raise CLIError("--resume needs --run-dir naming the run to continue.")
    from adiff_env.distributed import ddp

    if not ddp.under_torchrun():  # ranks trust their launcher's checks
        from adiff_env.devices import check_device

        check_device(args.device)  # a missing GPU fails before any corpus or rank is started
        _check_corpus(args.corpus)
        if cfg.eval_tasks > 0:
            require_sandbox(args.sandbox)
    if args.nproc > 1 and not ddp.under_torchrun():
        return _launch_train(args, cfg, name)

    from adiff_env.code.evaluate import eval_tasks, evaluate_pass_at_k
    from adiff_env.code.train import train_coder

    tasks = eval_tasks("train", cfg.eval_tasks) if cfg.eval_tasks > 0 else []
    init_from = None
    if args.init_from:
        from adiff_env.code.config import DEFAULT_MODEL
        from adiff_env.registry import ModelRegistry

        spec = args.init_from.removeprefix("coder:")
        init_from = ModelRegistry().load(DEFAULT_MODEL if spec == "default" else spec)
        if init_from.metadata.kind != "code-planner":
            raise ConfigError(f"--init-from needs a masked-diffusion coder (kind code-planner), got "
                              f"{init_from.metadata.kind!r} at {init_from.spec}.")

    def evaluate_fn(coder) -> dict:
        out = evaluate_pass_at_k(coder, tasks, CoderActConfig.from_dict({**act, "sandbox": None}), n=4, ks=(1, 4),
                                 sandbox=args.sandbox, progress=False)
        return {k: v for k, v in out.items() if k in ("pass@1", "pass@4", "parse_rate", "programs_per_s")}

    dataset = f"corpus {Path(args.corpus).name}" if args.corpus else "procedural:train corpus"
    with ddp.process_group(args.device) as (_world, device):
        result = train_coder(_corpus(args.corpus), cfg, name=name, run_dir=args.run_dir, resume=args.resume,
                             progress=not args.quiet, evaluate_fn=evaluate_fn if tasks else None, act=act,
                             init_from=init_from, grow_vocab=init_from is not None, dataset=dataset, device=device)
    if result.checkpoint is None:  # ranks other than 0
        return 0
    print(json.dumps({"checkpoint": result.checkpoint.spec, "path": str(result.checkpoint.path), "steps": result.steps,
                      "final_loss": result.final_loss, "wall_s": round(result.wall_s, 1), "scores": result.scores}))
    return 0


def _launch_train(args: argparse.Namespace, cfg: CoderTrainConfig, name: str) -> int:
    """Run ``adiff code train`` as ``--nproc`` torchrun ranks with one run dir and one corpus file."""
    import time

    from adiff_env.distributed import ddp
    from adiff_env.registry import adiff_home

    run_dir = Path(args.run_dir) if args.run_dir else adiff_home() / "runs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    corpus = args.corpus
    if corpus is None:  # built once here, not on every rank
        from adiff_env.code.corpus import build_corpus, save_corpus

        corpus = str(run_dir / "corpus.jsonl")
        if not Path(corpus).is_file():
            save_corpus(build_corpus(progress=not args.quiet), corpus)
    argv = ["--threads", str(args.threads)] if getattr(args, "threads", None) else []
    argv += ["code", "train", "--corpus", corpus, "--run-dir", str(run_dir), "--sandbox", args.sandbox, "--name", name,
             "--device", args.device]
    if args.preset:
        argv += ["--preset", str(args.preset)]
    for field, value in config.given_arguments(args, args.train_fields).items():
        flag = "--" + field.replace("_", "-")
        argv += [flag if value else f"--no-{field.replace('_', '-')}"] if isinstance(value, bool) else [flag, str(value)]
    argv += [f"--{flag}" for flag in ("resume", "quiet") if getattr(args, flag)]
    print(f"training on {args.nproc} ranks (torchrun, {ddp.backend_for(args.device)}), global batch {cfg.batch_size} x {args.nproc} = "
          f"{cfg.batch_size * args.nproc}")
    print(f"on several nodes, run on each (same endpoint and id; --nnodes = node count):\n  {ddp.multinode_hint(args.nproc, argv)}")
    return ddp.launch(args.nproc, argv)


def _default_act(arch: str) -> dict:
    """Acting options stored with a new checkpoint (the AR baseline samples at the same temperature)."""
    return {"samples": 16, "steps": 16, "temperature": 0.7} if arch == "diffusion" else {"samples": 16, "temperature": 0.7}


def run_passk(args: argparse.Namespace) -> int:
    from adiff_env.agents import check_agent
    from adiff_env.code.coder import DEFAULT_MODEL, CoderActConfig, load_coder
    from adiff_env.code.evaluate import eval_tasks, evaluate_pass_at_k

    agent = check_agent(args.agent)
    if agent.kind != "coder":
        raise ConfigError(f"--agent must be a coder spec (coder:default, coder:NAME[@vK], coder:PATH), got {args.agent!r}.")
    overrides = {k: v for k, v in agent.options.items() if k not in ("device", "seed")}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.temperature is not None:
        overrides["temperature"] = args.temperature
    require_sandbox(args.sandbox)
    if agent.arg.startswith("hf:"):  # a local Hugging Face masked LM (adiff_env.code.hf)
        from adiff_env.code.hf import load_hf_coder

        coder, overrides = load_hf_coder(agent.arg[len("hf:"):], overrides, agent.options.get("device", "cpu"))
        base, label = {}, agent.base
    else:
        coder, checkpoint = load_coder(DEFAULT_MODEL if agent.arg == "default" else agent.arg)
        base, label = checkpoint.config.get("act", {}), checkpoint.spec
    act = {**base, **overrides, "sandbox": None}
    out = evaluate_pass_at_k(coder, eval_tasks(args.split, args.per_family, args.start), CoderActConfig.from_dict(act),
                             n=args.samples, ks=sorted({1, args.samples}), seed=args.seed, sandbox=args.sandbox)
    if not args.per_task:
        out.pop("per_task")
    print(json.dumps({"agent": args.agent, "checkpoint": label, "split": args.split, **out}))
    return 0


def run_evolve(args: argparse.Namespace) -> int:
    from adiff_env.agents import check_agent

    base = check_agent(args.base if args.base.startswith("coder:") else f"coder:{args.base}", resolve=True)
    if base.options:
        raise CLIError(f"--from takes coder:NAME[@vK] or a checkpoint path without options, got {args.base!r}.")
    from adiff_env.devices import check_device

    check_device(args.device)
    _check_corpus(args.corpus)
    require_sandbox(args.sandbox)
    from adiff_env.code.evolve import CodeEvolveConfig, CodeEvolveDomain
    from adiff_env.evolve.loop import EvolutionLoop

    config = CodeEvolveConfig(
        base=args.base, name=args.name, corpus=args.corpus, rounds=args.rounds, gen_split=args.gen_split,
        gen_per_family=args.gen_per_family, samples=args.samples, finetune_steps=args.finetune_steps, lr=args.lr,
        mix_ratio=args.mix_ratio, eval_split=args.eval_split, eval_per_family=args.eval_per_family,
        eval_samples=args.eval_samples, sandbox=args.sandbox, seed=args.seed, workdir=args.workdir, device=args.device,
        shards=args.shards or (args.ray_actors if args.ray is not None and args.ray_actors else 1))
    from adiff_env.cli._ray import ray_executor

    executor = ray_executor(args, device=args.device)
    try:
        state = EvolutionLoop(CodeEvolveDomain(config), resume=args.resume, progress=not args.quiet,
                              executor=executor).run()
    finally:
        if executor is not None:
            executor.close()
    if args.json:
        print(json.dumps(state.to_dict(), default=str))
    else:
        print(f"current version: {state.current} (baseline {state.baseline:.2f}, best {state.best_score:.2f})")
    return 0
