"""The service's embedded store: SQLite in WAL mode holding jobs, job events, API keys and audit rows.

One connection per thread (SQLite connections are not shared across threads); WAL lets the
SSE readers, the job supervisor and the request handlers read while one writes. Audit rows are
written by one background thread in batches (:class:`AuditWriter`) so a request never waits on
a disk write for its audit row; :meth:`AuditWriter.close` flushes what is queued.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    key_id TEXT, idempotency_key TEXT, request_hash TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    pid INTEGER, attempts INTEGER NOT NULL DEFAULT 0, workdir TEXT NOT NULL,
    error TEXT, result TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(key_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, time REAL NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, scopes TEXT NOT NULL, name TEXT,
    created_at REAL NOT NULL, revoked_at REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, request_id TEXT NOT NULL, key_id TEXT,
    method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL, latency_ms REAL NOT NULL, detail TEXT
);
"""
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")


@dataclass
class JobRow:
    """One row of ``jobs`` (``params``/``result`` decoded from JSON)."""

    id: str
    kind: str
    params: dict[str, Any]
    status: str
    key_id: str | None
    idempotency_key: str | None
    request_hash: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    pid: int | None
    attempts: int
    workdir: str
    error: str | None
    result: Any
    cancel_requested: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        data = dict(row)
        data["params"] = json.loads(data["params"])
        data["result"] = json.loads(data["result"]) if data["result"] is not None else None
        return cls(**data)


class Store:
    """Thread-safe access to the SQLite file at ``path`` (created with its tables)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.connect() as con:
            con.executescript(SCHEMA)

    def connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
        return con

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        return self.connect().execute(sql, args)

    # -- keys ------------------------------------------------------------------------
    def add_key(self, key_id: str, digest: str, scopes: list[str], name: str | None) -> None:
        self.execute("INSERT INTO keys (id, hash, scopes, name, created_at) VALUES (?, ?, ?, ?, ?)",
                     (key_id, digest, ",".join(scopes), name, time.time()))

    def get_key(self, key_id: str) -> sqlite3.Row | None:
        return self.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()

    def list_keys(self) -> list[sqlite3.Row]:
        return self.execute("SELECT * FROM keys ORDER BY created_at").fetchall()

    def revoke_key(self, key_id: str) -> bool:
        cur = self.execute("UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id))
        return cur.rowcount == 1

    def active_keys(self) -> int:
        return self.execute("SELECT COUNT(*) FROM keys WHERE revoked_at IS NULL").fetchone()[0]

    # -- jobs ------------------------------------------------------------------------
    def insert_job(self, job: dict[str, Any]) -> None:
        job = dict(job, params=json.dumps(job["params"], sort_keys=True))
        cols = ", ".join(job)
        self.execute(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * len(job))})", tuple(job.values()))

    def get_job(self, job_id: str) -> JobRow | None:
        row = self.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRow.from_row(row) if row else None

    def job_by_idempotency(self, key_id: str | None, idem: str) -> JobRow | None:
        row = self.execute("SELECT * FROM jobs WHERE key_id IS ? AND idempotency_key = ?", (key_id, idem)).fetchone()
        return JobRow.from_row(row) if row else None

    def jobs(self, status: tuple[str, ...] = JOB_STATES, limit: int = 100) -> list[JobRow]:
        marks = ", ".join("?" * len(status))
        rows = self.execute(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY created_at LIMIT ?",
                            (*status, limit)).fetchall()
        return [JobRow.from_row(r) for r in rows]

    def count_jobs(self, status: tuple[str, ...]) -> int:
        marks = ", ".join("?" * len(status))
        return self.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ({marks})", status).fetchone()[0]

    def update_job(self, job_id: str, **fields: Any) -> None:
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))

    # -- events ----------------------------------------------------------------------
    def add_event(self, job_id: str, type_: str, data: Any) -> int:
        cur = self.execute("INSERT INTO events (job_id, time, type, data) VALUES (?, ?, ?, ?)",
                           (job_id, time.time(), type_, json.dumps(data, default=str)))
        return int(cur.lastrowid)

    def events(self, job_id: str, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.execute("SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
                            (job_id, after, limit)).fetchall()
        return [{"id": r["id"], "time": r["time"], "type": r["type"], "data": json.loads(r["data"])} for r in rows]

    # -- audit -----------------------------------------------------------------------
    def add_audit(self, rows: list[tuple]) -> None:
        con = self.connect()
        con.execute("BEGIN")
        con.executemany("INSERT INTO audit (time, request_id, key_id, method, route, status, latency_ms, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")

    def audit(self, limit: int = 100, key_id: str | None = None, before_id: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM audit WHERE 1=1", []
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        rows = self.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) for r in rows]


class AuditWriter:
    """Queues audit rows and writes them in batches from one thread (every ``interval_s``)."""

    def __init__(self, store: Store, interval_s: float = 0.05) -> None:
        self.store, self.interval_s = store, interval_s
        self._queue: queue.Queue[tuple | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="adiff-audit", daemon=True)
        self._thread.start()

    def write(self, row: tuple) -> None:
        self._queue.put(row)

    def _loop(self) -> None:
        stop = False
        while not stop:
            rows = []
            item = self._queue.get()
            while True:
                if item is None:
                    stop = True
                else:
                    rows.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if rows:
                self.store.add_audit(rows)
            if not stop:
                time.sleep(self.interval_s)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued row is written (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(self.interval_s * 2)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
