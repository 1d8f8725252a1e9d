"""The code agent: samples candidate programs with a coder and picks which one to submit.

:class:`CodePlanner` follows SB3's ``predict`` protocol; the action is the program text. Each
attempt samples ``samples`` candidates (:class:`~adiff_env.code.coder.DiffusionCoder` or the
autoregressive baseline) and ranks them with :mod:`adiff_env.code.select`: static checks,
behaviour votes on probe inputs run in the planner's own sandbox, and -- after a failed
attempt -- the failed tests the env's feedback shows. A candidate is never submitted twice in
an episode.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
import torch

from adiff_env.code import select as sel
from adiff_env.code.coder import DEFAULT_MODEL, CoderActConfig, load_coder


class CodePlanner:
    """The code agent (module doc). ``coder``: a :class:`DiffusionCoder` or ``ARCoder``."""

    def __init__(self, coder: Any, act: CoderActConfig | None = None, seed: int = 0, limits: Any = None,
                 sandbox: Any = None) -> None:
        self.coder, self.act, self.seed = coder, act or CoderActConfig(), int(seed)
        self.limits = limits
        self._sandbox, self._owns_sandbox = sandbox, sandbox is None
        self._rng = np.random.default_rng(seed)
        self.sample_ms: list[float] = []

    @classmethod
    def from_spec(cls, spec: str, env: Any = None, device: str = "cpu", seed: int = 0, **act: Any) -> CodePlanner:
        """Load ``spec`` (``NAME``, ``NAME@vK``, a path; ``default`` = the shipped
        ``coder-default``); ``act`` overrides the checkpoint's acting options."""
        coder, checkpoint = load_coder(DEFAULT_MODEL if spec == "default" else spec, device)
        base = dict(checkpoint.config.get("act", {}))
        base.update(act)
        config = CoderActConfig.from_dict(base)
        shared = getattr(getattr(env, "unwrapped", None), "sandbox", None) if config.sandbox == "env" else None
        limits = getattr(getattr(env, "unwrapped", None), "limits", None)
        return cls(coder, config, seed=seed, limits=limits, sandbox=shared)

    @property
    def sandbox(self) -> Any:
        """The sandbox for probes and revealed tests (None: static checks only)."""
        if self._sandbox is None and self.act.sandbox is not None:
            from adiff_env.sandbox import make_sandbox
            from adiff_env.sandbox.base import Limits

            self.limits = self.limits or Limits(wall_s=5.0, test_s=1.0)
            kind = "process" if self.act.sandbox == "env" else self.act.sandbox
            self._sandbox, self._owns_sandbox = make_sandbox(kind, limits=self.limits, pool_size=1), True
        return self._sandbox

    def _generator(self, prompt: str, attempt: int, deterministic: bool) -> torch.Generator:
        seed = zlib.crc32(f"{self.seed}:{attempt}:{prompt}".encode()) if deterministic else int(self._rng.integers(2**31))
        return torch.Generator().manual_seed(seed)

    def candidates(self, prompt: str, revealed: list[str] = (), pool: list[tuple[str, float]] | None = None,
                   submitted: set[str] = frozenset(), deterministic: bool = True) -> tuple[list[sel.Candidate], list]:
        """Sample until an untried candidate exists (at most ``max_rounds`` rounds); ranked best-first."""
        pool = list(pool or [])
        entry = sel.entry_point_of(prompt)
        ranked: list[sel.Candidate] = []
        for r in range(self.act.max_rounds):
            tic = time.perf_counter()
            programs, scores = self.coder.generate(prompt, self.act.samples, self.act,
                                                   self._generator(prompt, len(submitted) * 10 + r, deterministic))
            self.sample_ms.append(1000 * (time.perf_counter() - tic))
            pool += list(zip(programs, scores, strict=True))
            ranked = sel.rank_candidates(sel.merge_candidates([p for p, _ in pool], [s for _, s in pool], entry),
                                         self.sandbox, prompt, revealed, self.limits)
            if any(c.key not in submitted for c in ranked):
                break
        return ranked, pool

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
                ) -> tuple[str, dict[str, Any]]:
        """The program to submit for ``observation`` (the CodeTests env's dict, or a prompt string)."""
        obs = observation if isinstance(observation, dict) else {"prompt": str(observation), "feedback": ""}
        prompt, feedback = str(obs["prompt"]), str(obs.get("feedback", ""))
        new = state is None or bool(np.any(episode_start)) or state.get("prompt") != prompt
        if new:
            state = {"prompt": prompt, "submitted": [], "revealed": [], "pool": []}
        for test in sel.failed_tests_from_feedback(feedback):
            if test not in state["revealed"]:
                state["revealed"].append(test)
        ranked, state["pool"] = self.candidates(prompt, state["revealed"], state["pool"], set(state["submitted"]),
                                                deterministic)
        choice = next((c for c in ranked if c.key not in state["submitted"]), ranked[0])
        state["submitted"].append(choice.key)
        return choice.program, state

    def eval_stats(self) -> dict[str, Any]:
        ms = self.sample_ms
        return {"sample_ms_median": float(np.median(ms)) if ms else None, "samples": self.act.samples,
                "steps": self.act.steps, "sampling_rounds": len(ms)}

    def close(self) -> None:
        """Close the planner's own sandbox (a sandbox shared with an env stays open)."""
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
        self._sandbox = None
