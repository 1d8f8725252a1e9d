"""The service's config: one dataclass per concern, read from a TOML file (``adiff serve --config``).

Every default of the service lives here (the request models and the CLI read them from these
dataclasses). A TOML file sets any field; a table per section::

    host = "127.0.0.1"
    port = 8000
    sandbox = "docker"          # enables POST /v1/code/verdict

    [limits]                    # per key; changeable at run time (PUT /v1/admin/limits)
    rate_per_s = 50.0
    burst = 100
    max_concurrent = 32

    [batching]
    max_batch = 64
    max_wait_ms = 5.0

    [clamps]                    # server-side caps on what a client can ask for
    max_sampler_steps = 64
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCOPES = ("generate", "adapt", "verdict", "admin")
SANDBOX_CHOICES = ("docker",)


@dataclass
class RuntimeLimits:
    """Per-key admission limits; the admin route changes them while the server runs.

    ``rate_per_s``/``burst``: token bucket per key (a request costs one token).
    ``max_concurrent``: requests one key may have in flight. ``plan_queue_cap``: /v1/plan
    requests waiting for the sampler over all keys; beyond it a request gets 429 at once.
    ``max_batch``/``max_wait_ms``: the dynamic batcher (``max_batch = 1`` turns batching off).
    """

    rate_per_s: float = 200.0
    burst: int = 400
    max_concurrent: int = 128
    plan_queue_cap: int = 256
    max_batch: int = 64
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        _positive(self, ("rate_per_s", "burst", "max_concurrent", "plan_queue_cap", "max_batch"))
        if not 0 <= self.max_wait_ms <= 1000:
            raise ValueError(f"limits.max_wait_ms must be in [0, 1000], got {self.max_wait_ms}.")


@dataclass(frozen=True)
class Clamps:
    """Server-side caps on every number a client may ask for (requests above get 422)."""

    max_sampler_steps: int = 64
    max_candidates: int = 16
    max_code_samples: int = 32
    max_code_steps: int = 64
    max_tests: int = 64
    max_test_chars: int = 4096
    max_program_chars: int = 64 * 1024
    max_prompt_chars: int = 8192
    max_sandbox_wall_s: float = 10.0
    max_sandbox_memory_mb: int = 512
    max_eval_episodes: int = 100
    max_evolve_rounds: int = 20
    max_train_steps: int = 100_000

    def __post_init__(self) -> None:
        _positive(self, [f.name for f in dataclasses.fields(self)])


@dataclass(frozen=True)
class ServeConfig:
    """Where the service listens and what it may use.

    ``home``: its data folder (SQLite store ``serve.sqlite``, job folders ``jobs/``); default
    ``$ADIFF_HOME/serve``. ``sandbox``: ``"docker"`` turns the verdict route on (off when None).
    ``max_body_bytes``: larger request bodies get 413. ``max_running_jobs``/``job_queue_cap``:
    job child processes at once and jobs waiting. ``job_restarts``: how often a job interrupted
    by a server crash is resumed before it is marked failed. ``preset_dirs``: extra folders of
    planner preset TOMLs a train job may name. ``threads``: torch threads of the sampler thread.
    ``allow_public``: allow a non-loopback host (keys must exist; see :func:`check_bind`).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    home: str | None = None
    sandbox: str | None = None
    sandbox_pool: int = 2
    max_body_bytes: int = 1 << 20
    max_running_jobs: int = 1
    job_queue_cap: int = 16
    job_restarts: int = 2
    preset_dirs: tuple[str, ...] = ()
    device: str = "cpu"
    threads: int = 1
    max_planners: int = 8
    allow_public: bool = False
    limits: RuntimeLimits = field(default_factory=RuntimeLimits)
    clamps: Clamps = field(default_factory=Clamps)

    def __post_init__(self) -> None:
        _positive(self, ("port", "sandbox_pool", "max_body_bytes", "max_running_jobs", "job_queue_cap", "threads",
                         "max_planners"))
        if self.job_restarts < 0:
            raise ValueError(f"job_restarts must be >= 0, got {self.job_restarts}.")
        if self.sandbox is not None and self.sandbox not in SANDBOX_CHOICES:
            raise ValueError(f"sandbox must be one of {SANDBOX_CHOICES} or absent (verdict route off), got {self.sandbox!r}.")

    @property
    def home_path(self) -> Path:
        if self.home:
            return Path(self.home).expanduser()
        # registry.adiff_home's rule, without importing the registry (it imports torch)
        return Path(os.environ.get("ADIFF_HOME") or Path.home() / ".adiff").expanduser() / "serve"

    @property
    def db_path(self) -> Path:
        return self.home_path / "serve.sqlite"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _positive(obj: Any, names: Any) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{type(obj).__name__}.{name} must be a number > 0, got {value!r}.")


def _section(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{where} must be a table, got {type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}.")
    return cls(**data)


def config_from_dict(data: dict[str, Any]) -> ServeConfig:
    """A :class:`ServeConfig` from a TOML-shaped dict (tables ``limits``, ``batching``, ``clamps``)."""
    data = dict(data)
    limits = {**data.pop("limits", {}), **data.pop("batching", {})}
    clamps = data.pop("clamps", {})
    if "preset_dirs" in data:
        data["preset_dirs"] = tuple(str(p) for p in data["preset_dirs"])
    top = {k: v for k, v in data.items()}
    cfg = _section(ServeConfig, {**top, "limits": RuntimeLimits(), "clamps": Clamps()}, "serve config")
    return dataclasses.replace(cfg, limits=_section(RuntimeLimits, limits, "[limits]/[batching]"),
                               clamps=_section(Clamps, clamps, "[clamps]"))


def load_config(path: str | os.PathLike | None, **overrides: Any) -> ServeConfig:
    """Read ``path`` (TOML; None: defaults) and apply non-None ``overrides`` (top-level fields)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"serve config {p} does not exist.")
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(data)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(config: ServeConfig, active_keys: int) -> None:
    """Refuse a non-loopback bind unless ``allow_public`` is set and API keys exist."""
    if is_loopback(config.host):
        return
    if not config.allow_public:
        raise ValueError(f"refusing to bind {config.host!r}: not a loopback address. Set allow_public = true in the "
                         "config (and create keys with 'adiff keys create') to serve beyond this machine.")
    if active_keys == 0:
        raise ValueError(f"refusing to bind {config.host!r} with no API keys configured; create one first: "
                         "adiff keys create --scope admin")
