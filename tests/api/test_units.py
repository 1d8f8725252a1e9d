"""Fast unit tests of the service's parts: config, admission, keys, the batcher, the job command table."""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adiff_env.api.batcher import DynamicBatcher, QueueFull
from adiff_env.api.commands import can_resume, job_argv
from adiff_env.api.config import RuntimeLimits, ServeConfig, check_bind, config_from_dict, load_config
from adiff_env.api.security import Admission, KeyVerifier, create_key, parse_key
from adiff_env.api.store import Store


def test_config_from_toml_and_errors(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text('port = 9000\nsandbox = "docker"\n[limits]\nrate_per_s = 5.0\n[batching]\nmax_batch = 8\n'
                    '[clamps]\nmax_sampler_steps = 8\n')
    cfg = load_config(path)
    assert (cfg.port, cfg.sandbox, cfg.limits.rate_per_s, cfg.limits.max_batch, cfg.clamps.max_sampler_steps) == \
        (9000, "docker", 5.0, 8, 8)
    assert cfg.limits.burst == RuntimeLimits().burst  # untouched fields keep the dataclass default
    with pytest.raises(ValueError, match="unknown keys.*prot"):
        config_from_dict({"prot": 1})
    with pytest.raises(ValueError, match=r"max_batch must be a number > 0"):
        config_from_dict({"batching": {"max_batch": 0}})
    with pytest.raises(ValueError, match="sandbox must be one of"):
        ServeConfig(sandbox="process")
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")


def test_public_bind_needs_opt_in_and_keys():
    check_bind(ServeConfig(host="127.0.0.1"), 0)
    check_bind(ServeConfig(host="::1"), 0)
    with pytest.raises(ValueError, match="not a loopback"):
        check_bind(ServeConfig(host="0.0.0.0"), 5)
    with pytest.raises(ValueError, match="no API keys"):
        check_bind(ServeConfig(host="0.0.0.0", allow_public=True), 0)
    check_bind(ServeConfig(host="0.0.0.0", allow_public=True), 1)


def test_token_bucket_and_concurrency_cap():
    limits = RuntimeLimits(rate_per_s=1.0, burst=2, max_concurrent=1)
    adm = Admission(limits)
    assert adm.take("k") == 0.0 and adm.take("k") == 0.0
    wait = adm.take("k")
    assert 0 < wait <= 1.0  # empty: the next token comes within 1 / rate
    assert adm.take("other") == 0.0  # buckets are per key
    assert adm.enter("k") and not adm.enter("k")
    adm.leave("k")
    assert adm.enter("k")


def test_keys_are_stored_hashed_and_checked(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    new = create_key(store, ["generate", "adapt"])
    row = store.get_key(new.key_id)
    assert new.key not in dict(row).values() and row["hash"] != new.key
    verifier = KeyVerifier(store)
    who = verifier.verify(new.key)
    assert who.key_id == new.key_id and who.scopes == {"generate", "adapt"}
    assert verifier.verify(new.key[:-1] + ("A" if new.key[-1] != "A" else "B")) is None
    assert parse_key("not-a-key") is None
    store.revoke_key(new.key_id)
    verifier.forget(new.key_id)
    assert verifier.verify(new.key) is None
    with pytest.raises(ValueError, match="Unknown scope"):
        create_key(store, ["root"])


def test_batcher_groups_by_key_up_to_max_batch():
    calls: list[tuple[str, int]] = []
    gate = threading.Event()

    def run(key, items):
        gate.wait(5)
        calls.append((key, len(items)))
        return [(key, i) for i in items]

    async def main():
        limits = RuntimeLimits(max_batch=4, max_wait_ms=50, plan_queue_cap=100)
        batcher = DynamicBatcher(run, ThreadPoolExecutor(1), limits)
        tasks = [asyncio.create_task(batcher.submit("a" if i % 2 else "b", i)) for i in range(10)]
        await asyncio.sleep(0.2)
        gate.set()
        out = await asyncio.gather(*tasks)
        await batcher.close()
        return out

    out = asyncio.run(main())
    assert [r for r, _ in out] == [("a" if i % 2 else "b", i) for i in range(10)]  # every item its own answer
    assert all(n <= 4 for _, n in calls) and sum(n for _, n in calls) == 10
    assert {k for k, _ in calls} == {"a", "b"} and max(n for _, n in calls) > 1


def test_batcher_refuses_beyond_the_queue_cap():
    async def main():
        limits = RuntimeLimits(max_batch=1, max_wait_ms=0, plan_queue_cap=2)
        batcher = DynamicBatcher(lambda k, items: items, ThreadPoolExecutor(1), limits)
        batcher.pending = 2  # two requests wait already
        with pytest.raises(QueueFull) as info:
            await batcher.submit("k", 1)
        assert info.value.retry_after_s > 0
        batcher.pending = 0
        assert (await batcher.submit("k", 7))[0] == 7
        await batcher.close()

    asyncio.run(main())


def test_job_commands_table(tmp_path):
    run = tmp_path / "run"
    argv = job_argv("evolve", {"kind": "evolve", "env_id": "E", "base": "m@v1", "rounds": 2, "seed": None}, run,
                    resume=True)
    assert argv[:3] == [sys.executable, "-m", "adiff_env.cli.main"]
    assert argv[5:9] == ["maze", "evolve", "E", "--from"] and "planner:m@v1" in argv and argv[-1] == "--resume"
    assert "--seed" not in argv and argv[argv.index("--rounds") + 1] == "2"
    train = job_argv("train", {"kind": "train", "env_id": "E", "preset": "p", "steps": 5}, run, resume=False,
                     preset_path="/x/p.toml")
    assert train[5:8] == ["maze", "train", "E"] and train[train.index("--preset") + 1] == "/x/p.toml" and "--resume" not in train
    ev = job_argv("evaluate", {"kind": "evaluate", "env_id": "E", "agent": "random", "episodes": 1}, run, resume=False)
    assert ev[5:] == ["evaluate", "E", "--agent", "random", "--json", "--episodes", "1"]
    with pytest.raises(ValueError, match="unknown job kind"):
        job_argv("sleep", {}, run, resume=False)
    assert not can_resume("train", run)
    run.mkdir()
    (run / "resume.pt").write_bytes(b"")
    assert can_resume("train", run) and not can_resume("evolve", run) and not can_resume("evaluate", Path(run))


def test_idempotent_submission_in_the_store(tmp_path):
    from adiff_env.api.jobs import JobConflict, JobManager

    cfg = ServeConfig(home=str(tmp_path))
    jobs = JobManager(Store(cfg.db_path), cfg)
    params = {"kind": "evaluate", "env_id": "E", "agent": "random", "episodes": 1, "seed": None}
    a, created = jobs.submit(params, "k1", "idem")
    b, again = jobs.submit(params, "k1", "idem")
    assert created and not again and a.id == b.id
    c, _ = jobs.submit(params, "k2", "idem")  # keys are per API key
    assert c.id != a.id
    with pytest.raises(JobConflict):
        jobs.submit({**params, "episodes": 2}, "k1", "idem")
    assert jobs.cancel(a.id).status == "cancelled"


def test_recover_requeues_resumable_and_fails_the_rest(tmp_path):
    from adiff_env.api.jobs import JobManager

    cfg = ServeConfig(home=str(tmp_path), job_restarts=1)
    store = Store(cfg.db_path)
    jobs = JobManager(store, cfg)
    ev, _ = jobs.submit({"kind": "evaluate", "env_id": "E", "agent": "random"}, "k", None)
    tr, _ = jobs.submit({"kind": "train", "env_id": "E", "preset": "p"}, "k", None)
    worn, _ = jobs.submit({"kind": "train", "env_id": "E", "preset": "q"}, "k", None)
    for row, attempts in ((ev, 1), (tr, 1), (worn, 2)):
        store.update_job(row.id, status="running", attempts=attempts, pid=None)
    jobs.recover()
    assert store.get_job(ev.id).status == "failed" and "do not resume" in store.get_job(ev.id).error
    assert store.get_job(tr.id).status == "queued"
    assert store.get_job(worn.id).status == "failed" and "interrupted 2 times" in store.get_job(worn.id).error
    assert store.count_jobs(("running",)) == 0


def test_keys_cli_create_list_revoke(tmp_path, capsys):
    from adiff_env.cli.main import main

    home = str(tmp_path / "serve")
    assert main(["keys", "--home", home, "create", "--scope", "generate", "--scope", "adapt", "--name", "ci"]) == 0
    key = capsys.readouterr().out.splitlines()[0]
    key_id = parse_key(key)
    assert key_id is not None
    assert main(["keys", "--home", home, "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "generate,adapt" in listing and "active" in listing and key not in listing
    assert main(["keys", "--home", home, "revoke", key_id]) == 0
    assert main(["keys", "--home", home, "list"]) == 0 and "revoked" in capsys.readouterr().out
    assert main(["keys", "--home", home, "revoke", "ffffffff"]) == 2


def test_cli_help_imports_no_server_stack():
    import subprocess

    code = ("import sys; from adiff_env.cli.main import build_parser; build_parser(); "
            "import adiff_env.api; bad = [m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
