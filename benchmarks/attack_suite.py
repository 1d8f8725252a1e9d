"""Reward hacks vs trusted verdicts: mean score of each attack and of honest wrong programs.

30 tasks (15 HumanEval, 15 procedural), every program judged the code env's way (entry point
stubbed). An attack passes the check when, on every task, it scores no more than the best of
the honest wrong programs (``tests/sandbox/attacks.py``: return None / True / 0 / []).

    uv run python benchmarks/attack_suite.py --sandbox docker
    uv run python benchmarks/attack_suite.py --sandbox process
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sandbox"))
import attacks as A  # noqa: E402

from adiff_env.code.tasks import load_tasks  # noqa: E402
from adiff_env.sandbox import make_sandbox  # noqa: E402
from adiff_env.sandbox.base import Limits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    ap.add_argument("--mode", choices=["server", "exec"], default="server", help="Docker mode")
    args = ap.parse_args()
    limits = Limits(wall_s=3, test_s=1.0, output_bytes=4096, workdir_mb=8)
    tasks = load_tasks("humaneval")[::11][:15] + load_tasks("procedural:train:2")[:9] + load_tasks("procedural:test:2")[:6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.sandbox == "docker":
            from adiff_env.sandbox.docker import DockerSandbox

            box = DockerSandbox(limits, pool_size=2, mode=args.mode)
        else:
            box = make_sandbox("process", limits=limits)

    def scores(template: str) -> list[float]:
        return [box.run(A.program(template, t.entry_point), list(t.tests), setup=t.setup, entry_point=t.entry_point).pass_rate
                for t in tasks]

    start = time.perf_counter()
    try:
        reference = [box.run(t.solution, list(t.tests), setup=t.setup, entry_point=t.entry_point).pass_rate for t in tasks]
        wrong = {name: scores(tpl) for name, tpl in A.HONEST_WRONG.items()}
        base = [max(col) for col in zip(*wrong.values())]
        print(f"{len(tasks)} tasks, {args.sandbox}" + (f" ({args.mode} mode)" if args.sandbox == "docker" else ""))
        print("| program | mean score | tasks above the honest wrong baseline |")
        print("|---|---|---|")
        print(f"| reference solutions | {sum(reference) / len(tasks):.3f} | - |")
        for name, got in wrong.items():
            print(f"| honest wrong: {name} | {sum(got) / len(tasks):.3f} | - |")
        print(f"| honest wrong: best per task | {sum(base) / len(tasks):.3f} | - |")
        failed = 0
        for name, tpl in {**A.ATTACKS, **A.TIMING_ATTACKS}.items():
            got = scores(tpl)
            above = sum(g > b + 1e-9 for g, b in zip(got, base))
            failed += above > 0
            print(f"| attack: {name} | {sum(got) / len(tasks):.3f} | {above} |", flush=True)
        print(f"attacks scoring above the baseline on some task: {failed} of {len(A.ATTACKS) + len(A.TIMING_ATTACKS)}; "
              f"{time.perf_counter() - start:.0f} s")
    finally:
        box.close()


if __name__ == "__main__":
    main()
