"""EvalPlus-style measure of generated tests: mutants the original tests miss, killed by the new ones.

    uv run python benchmarks/augment_kill_rate.py --tasks 40 --per-task 30 --seed 0

For each of the first ``--tasks`` HumanEval problems (164 with ``--tasks 164``): augment it
(``adiff_env.code.tasks.augment``, reference probed through a ProcessSandbox, or
``--sandbox docker``), check the reference passes every augmented test (through the same
sandbox, trusted judge), make the first-order mutants of the reference solution
(``adiff_env.code.tasks.mutation.mutants``), keep those the ORIGINAL tests accept
(survivors), and count how many of them the added tests reject. Mutants are our own generated
code and run in-process with a time guard (``mutation.passes_tests``), as the procedural
mutation benchmark does.

Two rates: ``kill_rate_of_survivors`` = killed / survivors (equivalent mutants count as not
killed: a lower bound) and ``kill_rate_of_non_equivalent`` = killed / (survivors - equivalent),
where, by the rule of ``mutation.py`` applied the same way to every task, a survivor the
added tests miss is *equivalent* when it also passes a separate, larger augmentation (the
oracle: ``--oracle-per-task`` tests, seed + 1000, never used as tests). The oracle draws from
the same generators, so a wrong mutant they cannot reach counts as equivalent. Prints a JSON record (seed, config, git commit,
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
from adiff_env.code.tasks.augment import AugmentConfig, AugmentSummary, augment_task, original_tests
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
    parser.add_argument("--oracle-per-task", type=int, default=200,
                        help="equivalence oracle: tests of a separate augmentation (seed + 1000); 0 = none")
    parser.add_argument("--out", default=None, help="write the JSON record here (atomically)")
    args = parser.parse_args()
    config = AugmentConfig(per_task=args.per_task, seed=args.seed)
    oracle_config = AugmentConfig(per_task=max(1, args.oracle_per_task), seed=args.seed + 1000)
    tasks = load_tasks("humaneval")[: args.tasks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sandbox = make_sandbox(args.sandbox)
    summary = AugmentSummary()
    rows, start = [], time.perf_counter()
    totals = {"mutants": 0, "killed_by_original": 0, "survivors": 0, "killed_by_added": 0, "equivalent": 0,
              "reference_pass_tasks": 0, "tests_original": 0, "tests_added": 0}

    def build() -> dict:
        record = {
            "benchmark": "augment_kill_rate", "suite": "humaneval", "tasks": len(rows), "tasks_asked": len(tasks),
            "sandbox": args.sandbox,
            "config": asdict(config), "max_mutants": args.max_mutants, "git_commit": _commit(),
            "command": " ".join(sys.argv), **totals,
            "oracle": {"per_task": args.oracle_per_task, "seed": args.seed + 1000},
            "kill_rate_of_survivors": round(totals["killed_by_added"] / totals["survivors"], 4) if totals["survivors"] else 1.0,
            "kill_rate_of_non_equivalent": (round(totals["killed_by_added"] / live, 4)
                                            if (live := totals["survivors"] - totals["equivalent"]) else 1.0),
            "reference_pass_rate": round(totals["reference_pass_tasks"] / len(rows), 4) if rows else 0.0,
            "wall_s": round(time.perf_counter() - start, 1), "augment_summary": summary.as_dict(), "rows": rows,
        }
        text = json.dumps(record, indent=1)
        if args.out:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(text + "\n")
            os.replace(tmp, args.out)
        return record

    try:
        for task in tqdm(tasks, desc="augment+mutate", file=sys.stderr):
            aug = augment_task(task, sandbox, config, summary)
            check = sandbox.run(aug.solution, list(aug.tests), setup=aug.setup, entry_point=aug.entry_point,
                                fallback=aug.fallback_tests)
            ref_ok = check.all_passed
            added = aug.tests[len(original_tests(aug)):]
            row = {"task_id": task.task_id, "tests": len(task.tests), "added": len(added), "reference_pass": ref_ok,
                   "mutants": 0, "survivors": 0, "killed_by_added": 0, "equivalent": 0}
            oracle_tests = None  # made when first needed (a survivor the added tests miss)
            for mutant in mutants(task.solution)[: args.max_mutants]:
                row["mutants"] += 1
                if not passes_tests(mutant.source, task.entry_point, task.tests, task.setup):
                    continue
                row["survivors"] += 1
                if added and not passes_tests(mutant.source, task.entry_point, added, task.setup):
                    row["killed_by_added"] += 1
                    continue
                if oracle_tests is None:
                    oracle = augment_task(task, sandbox, oracle_config, AugmentSummary()) if args.oracle_per_task else aug
                    oracle_tests = oracle.tests[len(original_tests(oracle)):] if args.oracle_per_task else ()
                same = bool(oracle_tests) and passes_tests(mutant.source, task.entry_point, oracle_tests, task.setup)
                row["equivalent"] += same
                row.setdefault("not_killed", []).append(f"{'equivalent ' if same else ''}{mutant.operator}: "
                                                        f"{mutant.description}")
            rows.append(row)
            totals["mutants"] += row["mutants"]
            totals["survivors"] += row["survivors"]
            totals["killed_by_original"] += row["mutants"] - row["survivors"]
            totals["killed_by_added"] += row["killed_by_added"]
            totals["equivalent"] += row["equivalent"]
            totals["reference_pass_tasks"] += ref_ok
            totals["tests_original"] += len(task.tests)
            totals["tests_added"] += len(added)
            build()  # the record so far, written after every task (a cut-off run keeps its rows)
    finally:
        sandbox.close()
    record = build()
    print(json.dumps({k: v for k, v in record.items() if k not in ("rows", "augment_summary")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
