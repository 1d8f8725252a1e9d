"""Mutation kill rate of the procedural tasks' hidden tests, per family (a Markdown table).

    uv run python benchmarks/task_mutation_kill_rate.py --seeds 50
    uv run python benchmarks/task_mutation_kill_rate.py --seeds 5 --second-order

First-order mutants and the equivalence rule are those of ``adiff_env.code.tasks.mutation``.
``--second-order`` also mutates every first-order mutant once more (two changes at once).
"""

from __future__ import annotations

import argparse
import random

from tqdm import tqdm

from adiff_env.code.tasks.mutation import _outcome, kill_report, mutants, passes_tests
from adiff_env.code.tasks.procedural import draw_spec, families, generate, load_function


def second_order(family: str, seed: int, fuzz_runs: int = 300) -> tuple[int, int, int]:
    """(mutants, killed, equivalent) over distinct second-order mutants of one task."""
    spec, task = draw_spec(family, seed), generate(family, seed)
    reference = load_function(spec.solution, spec.entry_point)
    rng = random.Random(f"fuzz2:{family}:{seed}")
    inputs = [spec.fuzz(rng) for _ in range(fuzz_runs)]
    expected = [_outcome(reference, a) for a in inputs]
    seen, total, killed, equivalent = {spec.solution}, 0, 0, 0
    for first in mutants(spec.solution):
        for second in mutants(first.source):
            if second.source in seen:
                continue
            seen.add(second.source)
            total += 1
            if not passes_tests(second.source, spec.entry_point, task.tests):
                killed += 1
                continue
            fn = load_function(second.source, spec.entry_point)
            equivalent += all(_outcome(fn, a) == e for a, e in zip(inputs, expected))
    return total, killed, equivalent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="tasks per family (seeds 0..N-1)")
    parser.add_argument("--second-order", action="store_true")
    args = parser.parse_args()
    print("| family | split | kind | tests/task | mutants | killed | equivalent | survivors | kill rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    grand = [0, 0, 0, 0]
    for fam in tqdm(families(), desc="families", leave=False):
        row = [0, 0, 0, 0]  # total, killed, equivalent, survivors
        tests = 0
        for seed in range(args.seeds):
            if args.second_order:
                total, killed, equivalent = second_order(fam.name, seed)
                row = [row[0] + total, row[1] + killed, row[2] + equivalent, row[3] + total - killed - equivalent]
            else:
                r = kill_report(fam.name, seed)
                row = [row[0] + r.total, row[1] + r.killed, row[2] + len(r.equivalent), row[3] + len(r.survivors)]
            tests += len(generate(fam.name, seed).tests)
        grand = [g + v for g, v in zip(grand, row)]
        rate = row[1] / (row[0] - row[2]) if row[0] > row[2] else 1.0
        print(f"| {fam.name} | {fam.split} | {fam.kind} | {tests / args.seeds:.1f} | {row[0]} | {row[1]} | "
              f"{row[2]} | {row[3]} | {rate:.1%} |")
    rate = grand[1] / (grand[0] - grand[2]) if grand[0] > grand[2] else 1.0
    print(f"| **all** | | | | {grand[0]} | {grand[1]} | {grand[2]} | {grand[3]} | {rate:.2%} |")


if __name__ == "__main__":
    main()
