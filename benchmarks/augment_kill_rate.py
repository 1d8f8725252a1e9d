"""EvalPlus-style measure of generated tests: mutants the original tests miss, killed by the new ones.

    uv run python benchmarks/augment_kill_rate.py --tasks 40 --per-task 30 --seed 0

For each of the first ``--tasks`` HumanEval problems (164 with ``--tasks 164``): augment it
(``adiff_env.code.tasks.augment``, reference probed through a ProcessSandbox, or
``--sandbox docker``), check the reference passes every augmented test (through the same
sandbox, trusted judge), make the first-order mutants of the reference solution
(``adiff_env.code.tasks.mutation.mutants``), keep those the ORIGINAL tests accept
(survivors), and count how many of them the added tests reject. Mutants are our own generated
code and run in-process with a time guard (``mutation.passes_tests``), as the procedural
mutation benchmark does. No equivalence filter is applied: an equivalent mutant counts as
not killed, so the rate is a lower bound. Prints a JSON record (seed, config, git commit,
figures, per-task rows) and writes it with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict

from tqdm import tqdm

from adiff_env.code.tasks import load_tasks
from adiff_env.code.tasks.augment import AugmentConfig, augment_task, original_tests, AugmentSummary
from adiff_env.code.tasks.mutation import mutants, passes_tests
from adiff_env.sandbox import make_sandbox


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40, help="first N HumanEval problems (default 40; 164 = all)")
    parser.add_argument("--per-task", type=int, default=AugmentConfig.per_task)
    parser.add_argument("--seed", type=int, default=AugmentConfig.seed)
    parser.add_argument("--sandbox", choices=["process", "docker"], default="process")
    parser.add_argument("--max-mutants", type=int, default=200, help="mutants per task at most (first N)")
    parser.add_argument("--out", default=None, help="write the JSON record here (atomically)")
    args = parser.parse_args()
    config = AugmentConfig(per_task=args.per_task, seed=args.seed)
    tasks = load_tasks("humaneval")[: args.tasks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sandbox = make_sandbox(args.sandbox)
    summary = AugmentSummary()
    rows, start = [], time.perf_counter()
    totals = {"mutants": 0, "killed_by_original": 0, "survivors": 0, "killed_by_added": 0,
              "reference_pass_tasks": 0, "tests_original": 0, "tests_added": 0}
    try:
        for task in tqdm(tasks, desc="augment+mutate", file=sys.stderr):
            aug = augment_task(task, sandbox, config, summary)
            check = sandbox.run(aug.solution, list(aug.tests), setup=aug.setup, entry_point=aug.entry_point,
                                fallback=aug.fallback_tests)
            ref_ok = check.all_passed
            added = aug.tests[len(original_tests(aug)):]
            row = {"task_id": task.task_id, "tests": len(task.tests), "added": len(added), "reference_pass": ref_ok,
                   "mutants": 0, "survivors": 0, "killed_by_added": 0}
            for mutant in mutants(task.solution)[: args.max_mutants]:
                row["mutants"] += 1
                if not passes_tests(mutant.source, task.entry_point, task.tests, task.setup):
                    continue
                row["survivors"] += 1
                if added and not passes_tests(mutant.source, task.entry_point, added, task.setup):
                    row["killed_by_added"] += 1
            rows.append(row)
            totals["mutants"] += row["mutants"]
            totals["survivors"] += row["survivors"]
            totals["killed_by_original"] += row["mutants"] - row["survivors"]
            totals["killed_by_added"] += row["killed_by_added"]
            totals["reference_pass_tasks"] += ref_ok
            totals["tests_original"] += len(task.tests)
            totals["tests_added"] += len(added)
    finally:
        sandbox.close()
    record = {
        "benchmark": "augment_kill_rate", "suite": "humaneval", "tasks": len(tasks), "sandbox": args.sandbox,
        "config": asdict(config), "max_mutants": args.max_mutants, "git_commit": _commit(),
        "command": " ".join(sys.argv), **totals,
        "kill_rate_of_survivors": round(totals["killed_by_added"] / totals["survivors"], 4) if totals["survivors"] else 1.0,
        "reference_pass_rate": round(totals["reference_pass_tasks"] / len(tasks), 4) if tasks else 0.0,
        "wall_s": round(time.perf_counter() - start, 1), "augment_summary": summary.as_dict(), "rows": rows,
    }
    text = json.dumps(record, indent=1)
    if args.out:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, args.out)
    print(json.dumps({k: v for k, v in record.items() if k not in ("rows", "augment_summary")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
