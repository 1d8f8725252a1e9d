"""EvalPlus-style measure of generated tests: mutants the original tests miss, killed by the new ones.

    uv run python benchmarks/augment_kill_rate.py --tasks 40 --per-task 30 --seed 0
    uv run python benchmarks/augment_kill_rate.py --tasks 164 --augmented before.jsonl   # a suite made elsewhere

For each of the first ``--tasks`` HumanEval problems (164 with ``--tasks 164``): augment it
(``adiff_env.code.tasks.augment``, reference probed through a ProcessSandbox, or
``--sandbox docker``; or take the task of ``--augmented FILE``, e.g. written by
``adiff code tasks augment`` at another commit), check the reference passes every augmented
test (through the same sandbox, trusted judge), make the first-order mutants of the reference
solution (``adiff_env.code.tasks.mutation.mutants``), keep those the ORIGINAL tests accept
(survivors), and count how many of them the added tests reject. Mutants are our own generated
code and run in-process with a time guard (``mutation.passes_tests``).

Two rates: ``kill_rate_of_survivors`` = killed / survivors (every equivalent mutant counts
as not killed: a lower bound) and ``kill_rate_of_non_equivalent`` = killed / (survivors -
equivalent). Every survivor is classified by ``adiff_env.code.tasks.equivalence`` (its
module docstring has the rule): non-equivalent when the added tests kill it or it differs
from the reference on some oracle input (``--oracle-inputs`` generator draws from a seed of
their own, the tests' computed arguments, and the reviewed witnesses of
``--witnesses``), equivalent otherwise. The record keeps, per survivor, the verdict and the
witness input, so runs can be compared mutant by mutant. Prints a JSON record (seed,
config, git commit, figures, per-task rows) and writes it with ``--out``.
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

from adiff_env.code.tasks import load_jsonl, load_tasks
from adiff_env.code.tasks.augment import AugmentConfig, AugmentSummary, augment_task, original_tests
from adiff_env.code.tasks.equivalence import OracleConfig, build_oracle, witness
from adiff_env.code.tasks.mutation import mutants, passes_tests
from adiff_env.sandbox import make_sandbox

WITNESSES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "augment_witnesses.json")


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
    parser.add_argument("--oracle-inputs", type=int, default=OracleConfig.inputs,
                        help=f"equivalence oracle: generator inputs per task (default {OracleConfig.inputs})")
    parser.add_argument("--oracle-seed", type=int, default=OracleConfig.seed)
    parser.add_argument("--witnesses", default=WITNESSES, help="reviewed witness inputs (JSON: task id -> "
                        "list of argument-tuple literals); '' for none")
    parser.add_argument("--augmented", default=None, help="take the augmented tasks from this JSONL instead")
    parser.add_argument("--pool-factor", type=int, default=AugmentConfig.pool_factor)
    parser.add_argument("--select", choices=["diverse", "drawn"], default=AugmentConfig.select)
    parser.add_argument("--no-trace", action="store_true", help="no seeds traced from the given tests' run")
    parser.add_argument("--only", default=None, help="comma-separated task numbers (e.g. 0,38,124) instead")
    parser.add_argument("--out", default=None, help="write the JSON record here (atomically)")
    args = parser.parse_args()
    config = AugmentConfig(per_task=args.per_task, seed=args.seed, pool_factor=args.pool_factor,
                           select=args.select, trace=not args.no_trace)
    oracle_config = OracleConfig(inputs=args.oracle_inputs, seed=args.oracle_seed)
    import ast

    reviewed: dict = {}
    if args.witnesses:
        with open(args.witnesses, encoding="utf-8") as fh:
            reviewed = {k: [ast.literal_eval(a) for a in v] for k, v in json.load(fh).items() if not k.startswith("_")}
    tasks = load_tasks("humaneval")[: args.tasks]
    if args.only:
        tasks = [t for t in load_tasks("humaneval") if t.task_id.split("/")[-1] in args.only.split(",")]
    given = {t.task_id: t for t in load_jsonl(args.augmented)} if args.augmented else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sandbox = make_sandbox(args.sandbox)
    summary = AugmentSummary()
    rows, start = [], time.perf_counter()
    totals = {"mutants": 0, "killed_by_original": 0, "survivors": 0, "killed_by_added": 0, "equivalent": 0,
              "reference_pass_tasks": 0, "tests_original": 0, "tests_added": 0, "killed_by_oracle_only": 0,
              "killed_without_oracle_witness": 0}

    def build() -> dict:
        record = {
            "benchmark": "augment_kill_rate", "suite": "humaneval", "tasks": len(rows), "tasks_asked": len(tasks),
            "sandbox": args.sandbox,
            "config": None if given else asdict(config), "augmented_file": args.augmented,
            "max_mutants": args.max_mutants, "git_commit": _commit(),
            "command": " ".join(sys.argv), **totals,
            "oracle": {**asdict(oracle_config), "witnesses": args.witnesses,
                       "witness_inputs": sum(map(len, reviewed.values()))},
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
            t0 = time.perf_counter()
            aug = given.get(task.task_id, task) if given is not None else augment_task(task, sandbox, config, summary)
            augment_s = time.perf_counter() - t0
            check = sandbox.run(aug.solution, list(aug.tests), setup=aug.setup, entry_point=aug.entry_point,
                                fallback=aug.fallback_tests)
            ref_ok = check.all_passed
            added = aug.tests[len(original_tests(aug)):]
            row = {"task_id": task.task_id, "tests": len(task.tests), "added": len(added), "reference_pass": ref_ok,
                   "augment_s": round(augment_s, 2), "mutants": 0, "survivors": 0, "killed_by_added": 0,
                   "equivalent": 0, "verdicts": []}
            oracle = None  # built when first needed
            for index, mutant in enumerate(mutants(task.solution)[: args.max_mutants]):
                row["mutants"] += 1
                if not passes_tests(mutant.source, task.entry_point, task.tests, task.setup):
                    continue
                row["survivors"] += 1
                killed = bool(added) and not passes_tests(mutant.source, task.entry_point, added, task.setup)
                if oracle is None:
                    oracle = build_oracle(task, oracle_config, reviewed.get(task.task_id, []))
                    row["oracle_inputs"], row["oracle_untried"] = len(oracle.inputs), oracle.untried
                found = witness(task, oracle, mutant.source)
                row["killed_by_added"] += killed
                row["equivalent"] += not killed and found is None
                totals["killed_by_oracle_only"] += not killed and found is not None
                totals["killed_without_oracle_witness"] += killed and found is None
                row["verdicts"].append({"index": index, "mutant": f"{mutant.operator}: {mutant.description}", "killed": killed,
                                        "witness": None if found is None else repr(found)[:300]})
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
