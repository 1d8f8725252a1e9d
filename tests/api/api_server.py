"""A real ``adiff serve`` process on 127.0.0.1 with a free port, its own home and config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT_S = 180.0  # imports on a busy 2-core machine can take a while


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, home: Path, port: int, **extra: object) -> Path:
    lines = ['host = "127.0.0.1"', f"port = {port}", f'home = "{home}"']
    tables: dict[str, dict] = {}
    for key, value in extra.items():
        if isinstance(value, dict):
            tables[key] = value
        else:
            lines.append(f"{key} = {_toml(value)}")
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


class Server:
    """``adiff serve --config CONFIG`` as a child process; ``url`` once it answers /healthz."""

    def __init__(self, config: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.config, self.port, self.env, self.log = config, port, env, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "adiff_env.cli.main", "serve", "--config", str(self.config)],
                                     stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        out.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"adiff serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"adiff serve did not answer within {START_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        """``kill -9`` of the server process only (its job children die with it: PDEATHSIG)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def make_key(home: Path, *scopes: str) -> str:
    """A key in the server's store (what ``adiff keys create`` does)."""
    from adiff_env.api.security import create_key
    from adiff_env.api.store import Store

    return create_key(Store(home / "serve.sqlite"), list(scopes)).key


def client_for(server: Server, name: str | None, **kw: object):
    """A :class:`~adiff_env.api.Client` with the server's key ``name`` (None: no key)."""
    from adiff_env.api import Client

    return Client(server.url, key=server.keys[name] if name else None, timeout=120, **kw)
