"""The plan sampler in a child process, so torch's Python-side work never holds the server's GIL.

With the sampler on a thread of the server process, the event loop competes for the GIL with the
sampler's Python-side work (one run on the busy 2-core machine saw 429s for a full plan queue take
1.9 s p50 at twice saturation; see docs/service.md); in its own process the event loop only waits
for I/O. ``run_batch`` is called from the
batcher's single executor thread, sends ``(key, items)`` over a pipe and blocks (without the GIL)
for the answer. The child is started on first use (spawn; it imports torch there) and restarted
if it dies; it exits when the pipe closes (the server stopped or was killed).
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from adiff_env.api.config import ServeConfig


def _serve(conn: Any, config: ServeConfig) -> None:  # pragma: no cover  (runs in the child)
    from adiff_env.api.planning import PlannerPool

    pool = PlannerPool(config)
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (True, getattr(pool, method)(*args))
        except Exception as exc:  # noqa: BLE001  (sent back and raised in the server)
            reply = (False, exc)
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class SamplerProcess:
    """``run_batch(key, items)`` of a :class:`~adiff_env.api.planning.PlannerPool` in a child."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._proc: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.config), name="adiff-sampler", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def call(self, method: str, *args: Any) -> Any:
        with self._lock:
            self._ensure()
            try:
                self._conn.send((method, args))
                ok, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._proc = None
                raise RuntimeError(f"the sampler process died ({exc}); it restarts on the next request") from exc
        if not ok:
            raise value
        return value

    def run_batch(self, key: Any, items: list[Any]) -> list[Any]:
        return self.call("run_batch", key, items)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._proc is not None:
                self._proc.join(timeout=5)
                if self._proc.is_alive():
                    self._proc.kill()
            self._proc = self._conn = None
