"""Bench agent specs: an agent spec plus factory options in one string.

    KIND[:ARG][?KEY=VALUE[&KEY=VALUE...]]

e.g. ``planner:pointmaze-umaze?sampler=ddim&steps=5``, ``planner:pointmaze-umaze?sampler=ddpm&steps=0``
(``steps=0``: all training steps, as ``adiff evaluate --sampler ddpm`` does),
``expert:0.3``, ``iql:iql-umaze@v2``. It is the one agent syntax of every command, parsed by
:func:`adiff_env.agents.parse_agent`; each ``KEY=VALUE`` becomes a keyword option of the kind's
factory, typed and checked by the kind before anything loads (planners: ``sampler``,
``steps`` = sampler steps, any acting field such as ``replan_every``). The whole string is the
agent's label in tables and plots, so one planner at several step counts is several agents; the
score-vs-planning-time plot groups them by the part before ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adiff_env.agents import check_agent
from adiff_env.errors import ConfigError


@dataclass(frozen=True)
class BenchAgent:
    """``label`` (the full string), ``spec`` (``KIND[:ARG]``) and ``options`` (typed factory keywords)."""

    label: str
    spec: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_bench_agent(text: str) -> BenchAgent:
    """Parse and check ``KIND[:ARG][?K=V&...]``; an unknown kind or option raises
    :class:`~adiff_env.errors.UnknownNameError` listing the valid ones (nothing is loaded)."""
    spec = check_agent(text)
    return BenchAgent(spec.label, spec.base, spec.options)


def split_agents(text: str) -> list[str]:
    """``"a,b?x=1&y=2,c"`` -> ``["a", "b?x=1&y=2", "c"]`` (commas separate agents)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise ConfigError(f"--agents takes a comma-separated list of agent specs without empty entries, got {text!r}.")
    return parts
