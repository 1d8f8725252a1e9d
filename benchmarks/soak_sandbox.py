"""Soak: N mixed hostile and honest runs through one DockerSandbox pool, then a leak check.

Programs, in a fixed shuffled order over HumanEval and procedural tasks: reference solutions
(must score 1.0), honest wrong programs, the reward hacks of ``tests/sandbox/attacks.py``, and
the classic hostile ones (infinite loop, sleep, fork bomb, memory bombs, orphans, daemons,
100 MB of output, killing the runner). Every run is judged trusted (entry point stubbed).
Afterwards: no container of the pool, no ``sleep 3017`` orphan and no process in any of the
pool's containers (by cgroup) on this host. Bounded by ``--runs`` and ``--max-s``.

    uv run python benchmarks/soak_sandbox.py --runs 1000 --threads 2 --pool-size 2
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sandbox"))
import attacks as A  # noqa: E402
import sandbox_helpers as H  # noqa: E402

from adiff_env.code.tasks import load_tasks  # noqa: E402
from adiff_env.sandbox.base import Limits  # noqa: E402
from adiff_env.sandbox.docker import POOL_LABEL, DockerSandbox  # noqa: E402

CLASSIC = {"loop": H.INFINITE_LOOP, "sleep": H.SLEEP_PAST_LIMIT, "fork_bomb": H.FORK_BOMB, "memory_bomb": H.MEMORY_BOMB,
           "memory_bomb_processes": H.MEMORY_BOMB_PROCESSES, "orphan": H.ORPHAN, "daemon": H.DAEMON,
           "print_100mb": H.PRINT_100MB, "kill_runner": H.KILL_HARNESS}
SLOW = {"loop", "sleep", "fork_bomb", "memory_bomb", "memory_bomb_processes", "ignore_alarm", "block_alarm_patch_timer"}


def pool_processes(container_ids: set[str]) -> list[int]:
    """Host processes still inside any container this pool ever made (by cgroup path)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cgroup") as fh:
                    text = fh.read()
            except OSError:
                continue
            if any(cid in text for cid in container_ids):
                out.append(int(name))
    return out


def schedule(n: int, seed: int) -> list[tuple[str, str, object]]:
    """(kind, name, task) for n runs: ~35% references, 15% honest wrong, 45% hacks, 5% slow classics."""
    humaneval = load_tasks("humaneval")
    tasks = humaneval[::11] + load_tasks("procedural:train:2") + load_tasks("procedural:test:1")
    rng = random.Random(seed)
    fast_hostile = [("attack", k) for k in A.ATTACKS] + [("classic", k) for k in CLASSIC if k not in SLOW]
    slow_hostile = [("classic", k) for k in CLASSIC if k in SLOW] + [("timing", k) for k in A.TIMING_ATTACKS]
    plan = []
    for _i in range(n):
        r = rng.random()
        if r < 0.35:
            kind, name = "reference", "reference"
        elif r < 0.50:
            kind, name = "wrong", rng.choice(list(A.HONEST_WRONG))
        elif r < 0.95:
            kind, name = rng.choice(fast_hostile)
        else:
            kind, name = rng.choice(slow_hostile)
        plan.append((kind, name, rng.choice(tasks)))
    return plan


def program_for(kind: str, name: str, task) -> str:
    if kind == "reference":
        return task.solution
    if kind == "wrong":
        return A.program(A.HONEST_WRONG[name], task.entry_point)
    if kind == "attack":
        return A.program(A.ATTACKS[name], task.entry_point)
    if kind == "timing":
        return A.program(A.TIMING_ATTACKS[name], task.entry_point)
    return CLASSIC[name] + f"\ndef {task.entry_point}(*a, **k):\n    return None\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--max-s", type=float, default=1200.0, help="stop scheduling new runs after this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    limits = Limits(wall_s=3, test_s=1.0, output_bytes=4096, workdir_mb=8)
    plan = schedule(args.runs, args.seed)
    made: set[str] = set()
    original = DockerSandbox._new_slot

    def recording(self):
        slot = original(self)
        made.add(slot.container.id)
        return slot

    DockerSandbox._new_slot = recording  # every container of the pool, for the leak check
    pool = DockerSandbox(limits, pool_size=args.pool_size)
    start = time.perf_counter()
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    latencies: list[float] = []
    errors: list[str] = []

    def one(item):
        kind, name, task = item
        if time.perf_counter() - start > args.max_s:
            return None
        t = time.perf_counter()
        try:
            result = pool.run(program_for(kind, name, task), list(task.tests), setup=task.setup, entry_point=task.entry_point)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{kind}/{name}/{task.task_id}: {type(exc).__name__}: {exc}")
            return None
        latencies.append(time.perf_counter() - t)
        if kind == "reference" and not result.all_passed:
            errors.append(f"reference {task.task_id} scored {result.pass_rate:.3f}: "
                          f"{[(o.index, o.error_type, o.message[:80]) for o in result.tests if not o.passed][:3]}")
        return kind, name, task.task_id, result.pass_rate, result.trusted

    by_id = {task.task_id: task for _, _, task in plan}
    per_task_wrong: dict[str, float] = {}
    try:
        with ThreadPoolExecutor(args.threads) as ex:
            done = [r for r in tqdm(ex.map(one, plan), total=len(plan), desc="soak", leave=False) if r is not None]
        wall = time.perf_counter() - start
        for task_id in sorted({d[2] for d in done}):  # the honest wrong baseline of every task (not timed)
            task = by_id[task_id]
            per_task_wrong[task_id] = max(
                pool.run(A.program(t, task.entry_point), list(task.tests), setup=task.setup,
                         entry_point=task.entry_point).pass_rate for t in A.HONEST_WRONG.values())
    finally:
        pool.close()
    for kind, name, _task_id, rate, _ in done:
        scores[kind, name].append(rate)
    time.sleep(2)
    left = pool.client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={pool.owner}"})
    stray = pool_processes(made)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0] * 99
    print(f"{len(done)} runs of {len(plan)} in {wall:.1f} s ({len(done) / wall:.1f} runs/s), "
          f"p50 {1000 * statistics.median(latencies):.0f} ms, p99 {1000 * q[98]:.0f} ms; containers replaced {pool.replaced}")
    print(f"all verdicts trusted: {all(d[4] for d in done)}; errors and failed references: {len(errors)}")
    print("| kind | program | runs | mean score | max score |")
    print("|---|---|---|---|---|")
    for (kind, name), rates in sorted(scores.items()):
        print(f"| {kind} | {name} | {len(rates)} | {sum(rates) / len(rates):.3f} | {max(rates):.3f} |")
    hostile = [d for d in done if d[0] not in ("reference", "wrong")]
    above = [d for d in hostile if d[3] > per_task_wrong.get(d[2], 0.0) + 1e-9 and d[3] > 0]
    print(f"hostile runs scoring above the best honest wrong program on their task: {len(above)}")
    print(f"reference runs at 1.0: {sum(r == 1.0 for r in scores['reference', 'reference'])}/{len(scores['reference', 'reference'])}")
    print(f"leftover pool containers: {len(left)}; host orphans: {len(H.host_orphans())}; processes left in the pool's {len(made)} containers: {len(stray)}")
    for line in errors[:5]:
        print("  error:", line)


if __name__ == "__main__":
    main()
