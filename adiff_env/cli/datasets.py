"""``adiff datasets``: collect, list and show Minari datasets.

    adiff datasets collect ENV_ID --steps N --noise 0.5 --seed S [--dataset-id ID]
    adiff datasets collect --recipe datasets/pointmaze-umaze.toml
    adiff datasets list
    adiff datasets show ID
"""

from __future__ import annotations

import argparse
import json
import os

from adiff_env import config
from adiff_env.cli._common import CLIError, non_negative_float, positive_int
from adiff_env.datasets.recipes import DatasetRecipe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "datasets",
        help="collect, list and show Minari datasets (expert data for training)",
        description="Minari datasets in $MINARI_DATASETS_PATH (default ~/.minari/datasets).",
    )
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)

    c = dsub.add_parser(
        "collect",
        help="record a dataset with the noisy waypoint expert",
        description=(
            "Record a Minari dataset: the waypoint expert with Gaussian action noise on a "
            "continuing task (a new goal each time one is reached). Give ENV_ID and --steps, "
            "or --recipe. An existing dataset is only replaced with --overwrite, and a failed "
            "or interrupted run leaves it untouched."
        ),
    )
    c.add_argument("env_id", nargs="?", help="environment id, e.g. adiff/PointMaze-UMaze-v0")
    c.add_argument("--recipe", help="recipe TOML path or shipped name (e.g. pointmaze-umaze)")
    fields = config.add_arguments(c, DatasetRecipe, only=["steps", "noise", "seed", "dataset_id", "episode_steps", "expert"],
                                  title="recipe (DatasetRecipe; with --recipe: overrides of its keys)",
                                  types={"steps": positive_int, "episode_steps": positive_int, "noise": non_negative_float})
    c.add_argument("--tuned-expert", action="store_true", help="same as --expert tuned")
    c.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: all CPUs, at most 4)")
    c.add_argument("--backend", choices=["buffers", "collector"], default="buffers",
                   help="buffers: parallel workers (default); collector: minari.DataCollector")
    c.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that id")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    c.add_argument("--json", action="store_true", help="print the result as one JSON object")
    c.set_defaults(func=run_collect, recipe_fields=fields)

    ls = dsub.add_parser("list", help="list local datasets")
    ls.set_defaults(func=run_list)

    sh = dsub.add_parser("show", help="print one dataset's metadata")
    sh.add_argument("dataset_id", help="dataset id, e.g. adiff/pointmaze-umaze-v0")
    sh.add_argument("--json", action="store_true", help="print the metadata as JSON")
    sh.set_defaults(func=run_show)


def run_collect(args: argparse.Namespace) -> int:
    from adiff_env.datasets.collect import collect_dataset, recipe_dict
    from adiff_env.datasets.recipes import load_recipe

    given = config.given_arguments(args, args.recipe_fields)
    if args.tuned_expert:
        given["expert"] = "tuned"
    if args.recipe and args.env_id:
        raise CLIError("give either ENV_ID or --recipe, not both (the recipe names its env).")
    if args.recipe:
        recipe = load_recipe(args.recipe)
        recipe = config.replace(recipe, given, f"recipe {args.recipe} with the command's options")
    elif args.env_id:
        if "steps" not in given:
            raise CLIError("--steps N is required with ENV_ID (or use --recipe FILE).")
        recipe = config.from_dict(DatasetRecipe, {"env": args.env_id, **given}, "the command's options")
    else:
        raise CLIError("give ENV_ID with --steps N, or --recipe FILE.")
    _check_dataset_id(recipe.resolved_dataset_id)
    if args.backend == "collector":
        workers = 1
    else:
        workers = args.workers or min(4, os.cpu_count() or 1)
    result = collect_dataset(
        recipe.env, recipe.steps, noise_std=recipe.noise, seed=recipe.seed,
        dataset_id=recipe.dataset_id, episode_steps=recipe.episode_steps,
        tuned_expert=recipe.expert == "tuned", workers=workers, backend=args.backend,
        overwrite=args.overwrite, description=recipe.description, progress=not args.no_progress,
        continuing=recipe.continuing, env_kwargs=recipe.env_kwargs, noisy_fraction=recipe.noisy_fraction,
        episodes_per_task=recipe.episodes_per_task,
    )
    if args.json:
        print(json.dumps(recipe_dict(result)))
    else:
        print(
            f"wrote {result.dataset_id}: {result.total_steps:,} steps in {result.total_episodes} "
            f"episodes, {result.wall_s:.1f} s ({result.steps_per_s:,.0f} steps/s, "
            f"{result.workers} worker(s), backend {result.backend}) -> {result.path}"
        )
    return 0


def _check_dataset_id(dataset_id: str) -> None:
    """Minari's own id check, as a one-line user error before any work (an unknown env id is
    checked by the collector's gym.make)."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except ValueError as exc:
        raise CLIError(f"dataset id {dataset_id!r}: {exc}") from None


def run_list(args: argparse.Namespace) -> int:
    import minari

    datasets = minari.list_local_datasets()
    if not datasets:
        print("no local datasets (collect one with 'adiff datasets collect ENV_ID --steps N')")
        return 0
    print(f"{'dataset id':<36} {'steps':>10} {'episodes':>9}  env")
    for dataset_id, meta in sorted(datasets.items()):
        env = _env_id(meta.get("env_spec"))
        print(f"{dataset_id:<36} {meta.get('total_steps', 0):>10,} {meta.get('total_episodes', 0):>9,}  {env}")
    return 0


def _env_id(spec_json) -> str:
    try:
        return json.loads(spec_json)["id"]
    except (TypeError, ValueError, KeyError):
        return "?"


def run_show(args: argparse.Namespace) -> int:
    import minari

    from adiff_env.errors import UnknownNameError

    local = minari.list_local_datasets()
    if args.dataset_id not in local:
        raise UnknownNameError("dataset id", args.dataset_id, local)
    meta = dict(local[args.dataset_id])
    for key in ("observation_space", "action_space"):
        meta[key] = str(meta.get(key, ""))
    if args.json:
        print(json.dumps(meta, default=_jsonable, indent=1))
        return 0
    recipe = meta.get("adiff_recipe") or {}
    print(f"{args.dataset_id}")
    rows = [
        ("env", _env_id(meta.get("env_spec"))), ("eval env", _env_id(meta.get("eval_env_spec"))),
        ("steps", f"{meta.get('total_steps', 0):,}"), ("episodes", f"{meta.get('total_episodes', 0):,}"),
        ("algorithm", meta.get("algorithm_name", "?")), ("noise std", recipe.get("noise_std", "?")),
        ("seed", recipe.get("seed", "?")), ("episode steps", recipe.get("episode_steps", "?")),
        ("git commit", meta.get("adiff_git_commit", "?")), ("size", f"{meta.get('dataset_size', '?')} MB"),
        ("observation space", meta["observation_space"]), ("action space", meta["action_space"]),
        ("description", meta.get("description", "")),
    ]
    for name, value in rows:
        print(f"  {name:<18} {value}")
    return 0


def _jsonable(value):
    if isinstance(value, set):
        return sorted(value)
    return str(value)
