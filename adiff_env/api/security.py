"""API keys, scopes and per-key admission (token bucket + concurrency cap).

A key reads ``adk_<id>_<secret>``: ``id`` (8 hex) is public and names the key in the audit
log; only ``sha256(key)`` is stored, so the key is shown once, at creation. A request sends
``Authorization: Bearer <key>`` (or ``X-API-Key``). Verified keys are cached for
``CACHE_S`` seconds, so a revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass

from adiff_env.api.config import SCOPES, RuntimeLimits
from adiff_env.api.store import Store

CACHE_S = 2.0
PREFIX = "adk"


@dataclass(frozen=True)
class Principal:
    """The verified caller: its key id and scopes."""

    key_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class NewKey:
    key_id: str
    key: str
    scopes: tuple[str, ...]
    name: str | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not scopes:
        raise ValueError(f"a key needs at least one scope out of {list(SCOPES)}.")
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        from adiff_env.errors import UnknownNameError

        raise UnknownNameError("scope", bad[0], SCOPES)
    return tuple(dict.fromkeys(scopes))


def create_key(store: Store, scopes: list[str] | tuple[str, ...], name: str | None = None) -> NewKey:
    """Make a key with ``scopes``, store its hash, return it (the only time it is seen)."""
    scopes = check_scopes(scopes)
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    store.add_key(key_id, digest(key), list(scopes), name)
    return NewKey(key_id, key, scopes, name)


def parse_key(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


class KeyVerifier:
    """Checks keys against the store, with a short cache."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, str, frozenset[str] | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> Principal | None:
        key_id = parse_key(key)
        if key_id is None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is None or now - hit[0] > CACHE_S:
            row = self.store.get_key(key_id)
            if row is None:  # unknown ids are not cached: a flood of made-up ids cannot grow the cache
                return None
            scopes = frozenset(row["scopes"].split(",")) if row["revoked_at"] is None else None
            hit = (now, row["hash"], scopes)
            with self._lock:
                self._cache[key_id] = hit
        _, stored, scopes = hit
        if scopes is None or not hmac.compare_digest(stored, digest(key)):
            return None
        return Principal(key_id, scopes)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)


class Admission:
    """Per-key token buckets and in-flight counters under one lock (all O(1))."""

    def __init__(self, limits: RuntimeLimits) -> None:
        self.limits = limits
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill time)
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """Take one token; 0.0 when admitted, else the seconds until a token is free (Retry-After)."""
        rate, burst = self.limits.rate_per_s, self.limits.burst
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate

    def enter(self, key_id: str) -> bool:
        with self._lock:
            n = self._inflight.get(key_id, 0)
            if n >= self.limits.max_concurrent:
                return False
            self._inflight[key_id] = n + 1
            return True

    def leave(self, key_id: str) -> None:
        with self._lock:
            self._inflight[key_id] = max(0, self._inflight.get(key_id, 1) - 1)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds; at least 1."""
    return str(max(1, math.ceil(seconds)))
