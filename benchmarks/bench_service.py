"""The service under load on loopback: /v1/plan batching on vs off, latency at half and twice
saturation, and /v1/code/verdict with the warm Docker pool. Bounded in count and time.

Each phase starts a real ``adiff serve`` (a temp home, 127.0.0.1, a free port) and drives it
with ``httpx.AsyncClient`` from this process:

1. one plan's latency: sequential requests, median (after warm-up);
2. closed loop, ``--clients`` concurrent clients for ``--seconds``: throughput with batching on
   (``max_batch = 64``) and off (``max_batch = 1``); saturation = the batching-on throughput;
3. open loop at half of saturation: p50 / p99 latency;
4. open loop at twice saturation with a plan-queue cap: accepted requests all answer 200
   (none times out), the excess gets 429 -- its p99 latency;
5. verdicts: sequential and ``--verdict-clients`` concurrent requests (needs Docker).

    uv run python benchmarks/bench_service.py --clients 64 --seconds 20 --out runs/bench_service.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "api"))
from api_server import Server, free_port, make_key, write_config  # noqa: E402

BODY = {"model": "pointmaze-umaze", "env_id": "adiff/PointMaze-UMaze-v0", "observation": [0.0, -1.0, 0.0, 0.0],
        "goal": [-1.0, 1.0], "return_plan": False}
TIMEOUT_S = 60.0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def start(root: Path, name: str, **config) -> tuple[Server, str]:
    home = root / name
    port = free_port()
    cfg = write_config(root / f"{name}.toml", home, port, **config)
    env = {**os.environ, "ADIFF_HOME": str(root / "adiff")}
    srv = Server(cfg, port, env, root / f"{name}.log").start()
    return srv, make_key(home, "generate", "verdict", "admin")


async def post(client: httpx.AsyncClient, path: str, body: dict) -> tuple[int, float, dict]:
    tic = time.perf_counter()
    r = await client.post(path, json=body)
    return r.status_code, time.perf_counter() - tic, r.json()


async def closed_loop(client: httpx.AsyncClient, clients: int, seconds: float) -> dict:
    stop = time.perf_counter() + seconds
    lat: list[float] = []
    batches: list[int] = []
    bad = 0

    async def worker() -> None:
        nonlocal bad
        while time.perf_counter() < stop:
            status, dt, body = await post(client, "/v1/plan", BODY)
            if status == 200 and len(body["action"]) == 2:
                lat.append(dt)
                batches.append(body["timings"]["batch_size"])
            else:
                bad += 1

    tic = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - tic
    return {"ok": len(lat), "bad": bad, "wall_s": wall, "throughput": len(lat) / wall, "p50_ms": 1000 * pct(lat, 50),
            "p99_ms": 1000 * pct(lat, 99), "mean_batch": statistics.mean(batches) if batches else None}


async def open_loop(client: httpx.AsyncClient, rate: float, seconds: float) -> dict:
    n = max(1, int(rate * seconds))
    results: list[tuple[int, float]] = []
    errors = 0

    async def one(at: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        try:
            status, dt, body = await post(client, "/v1/plan", BODY)
            if status == 200 and len(body["action"]) != 2:
                status = -1
            results.append((status, dt))
        except httpx.HTTPError:  # a timeout or a dropped connection: an accepted request lost
            errors += 1

    t0 = time.perf_counter() + 0.2
    await asyncio.gather(*(one(t0 + i / rate) for i in range(n)))
    ok = [dt for s, dt in results if s == 200]
    refused = [dt for s, dt in results if s == 429]
    return {"rate": rate, "sent": n, "ok": len(ok), "refused": len(refused), "errors": errors,
            "other": len(results) - len(ok) - len(refused),
            "ok_p50_ms": 1000 * pct(ok, 50) if ok else None, "ok_p99_ms": 1000 * pct(ok, 99) if ok else None,
            "refused_p50_ms": 1000 * pct(refused, 50) if refused else None,
            "refused_p99_ms": 1000 * pct(refused, 99) if refused else None}


async def plan_phases(args: argparse.Namespace, root: Path, out: list[dict]) -> None:
    limits = httpx.Limits(max_connections=4 * args.clients + 64, max_keepalive_connections=4 * args.clients + 64)
    sat = None
    for batching, max_batch in (("on", 64), ("off", 1)):
        srv, key = start(root, f"plan-{batching}", limits={"max_batch": max_batch, "max_wait_ms": args.max_wait_ms,
                                                           "plan_queue_cap": 100_000, "rate_per_s": 1e6,
                                                           "burst": 1_000_000, "max_concurrent": 100_000})
        try:
            async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {key}"},
                                         timeout=TIMEOUT_S, limits=limits) as client:
                for _ in range(3):  # warm-up: model load, first sampler calls
                    await post(client, "/v1/plan", BODY)
                single = [(await post(client, "/v1/plan", BODY))[1] for _ in range(args.single)]
                row = {"phase": "single", "batching": batching, "p50_ms": 1000 * pct(single, 50),
                       "p99_ms": 1000 * pct(single, 99)}
                out.append(row), print(json.dumps(row), flush=True)
                row = {"phase": "closed-loop", "batching": batching, "clients": args.clients,
                       **await closed_loop(client, args.clients, args.seconds)}
                out.append(row), print(json.dumps(row), flush=True)
                if batching == "on":
                    sat, one_ms = row["throughput"], out[-2]["p50_ms"]
                    half = {"phase": "open-loop-half", "one_plan_ms": one_ms,
                            **await open_loop(client, sat / 2, args.seconds)}
                    out.append(half), print(json.dumps(half), flush=True)
                    await client.put("/v1/admin/limits", json={"plan_queue_cap": args.queue_cap})
                    double = {"phase": "open-loop-2x", "queue_cap": args.queue_cap,
                              **await open_loop(client, 2 * sat, args.seconds)}
                    out.append(double), print(json.dumps(double), flush=True)
        finally:
            srv.stop()


async def verdict_phase(args: argparse.Namespace, root: Path, out: list[dict]) -> None:
    srv, key = start(root, "verdict", sandbox="docker", sandbox_pool=args.pool)
    body = {"program": "def add(a, b):\n    return a + b\n", "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]}
    try:
        async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {key}"},
                                     timeout=TIMEOUT_S) as client:
            for _ in range(2):
                await post(client, "/v1/code/verdict", body)
            seq = []
            for _ in range(args.verdicts):
                status, dt, res = await post(client, "/v1/code/verdict", body)
                assert status == 200 and res["all_passed"], res
                seq.append(dt)
            tic = time.perf_counter()
            conc = await asyncio.gather(*(post(client, "/v1/code/verdict", body) for _ in range(args.verdicts)))
            wall = time.perf_counter() - tic
            ok = [dt for s, dt, r in conc if s == 200 and r["all_passed"]]
        row = {"phase": "verdict", "pool": args.pool, "sequential_p50_ms": 1000 * pct(seq, 50),
               "sequential_p99_ms": 1000 * pct(seq, 99), "concurrent": args.verdicts, "concurrent_ok": len(ok),
               "concurrent_p50_ms": 1000 * pct(ok, 50), "concurrent_p99_ms": 1000 * pct(ok, 99),
               "concurrent_per_s": len(ok) / wall}
        out.append(row), print(json.dumps(row), flush=True)
    finally:
        srv.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=20.0, help="length of each load phase (default 20)")
    p.add_argument("--single", type=int, default=10, help="sequential plans for one plan's latency")
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--queue-cap", type=int, default=128, help="plan-queue cap in the 2x phase")
    p.add_argument("--verdicts", type=int, default=20)
    p.add_argument("--pool", type=int, default=2, help="Docker warm pool size")
    p.add_argument("--skip-verdict", action="store_true")
    p.add_argument("--out", type=Path, help="append the rows as JSON lines here")
    args = p.parse_args()
    out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        asyncio.run(plan_phases(args, Path(tmp), out))
        if not args.skip_verdict:
            asyncio.run(verdict_phase(args, Path(tmp), out))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as fh:
            for row in out:
                fh.write(json.dumps({**row, "argv": sys.argv[1:]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
