"""Bench agent specs: an agent spec plus factory options in one string.

    KIND[:ARG][?KEY=VALUE[&KEY=VALUE...]]

e.g. ``planner:pointmaze-umaze?sampler=ddim&steps=5``, ``planner:pointmaze-umaze?sampler=ddpm&steps=0``
(``steps=0``: all training steps, as ``adiff evaluate --sampler ddpm`` does),
``expert:0.3``, ``iql:iql-umaze@v2``. The part before ``?`` is an ordinary agent spec
(:func:`adiff_env.agents.make_agent`); each ``KEY=VALUE`` becomes a keyword option of the kind's
factory (the same options as ``adiff evaluate --agent-option``; planners: ``sampler``,
``steps`` = sampler steps, any acting field such as ``replan_every``). Values are read as JSON
where they parse (``5``, ``0.5``, ``true``) and as text otherwise (``ddim``). The whole string
is the agent's label in tables and plots, so one planner at several step counts is several
agents; the score-vs-planning-time plot groups them by the part before ``?``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from adiff_env.agents import agent_kinds, parse_agent_spec
from adiff_env.errors import UnknownNameError


@dataclass(frozen=True)
class BenchAgent:
    """``label`` (the full string), ``spec`` (``KIND[:ARG]``) and ``options`` (factory keywords)."""

    label: str
    spec: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_bench_agent(text: str) -> BenchAgent:
    """Parse ``KIND[:ARG][?K=V&...]``; an unknown kind raises :class:`UnknownNameError` listing the kinds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"agent spec must be a non-empty string such as 'random' or 'planner:NAME?steps=5', got {text!r}.")
    label = text.strip()
    spec, _, query = label.partition("?")
    kind, _ = parse_agent_spec(spec)
    kinds = agent_kinds()
    if kind not in kinds:
        raise UnknownNameError("agent kind", kind, kinds)
    options: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"agent option {pair!r} in {label!r} must be KEY=VALUE, e.g. '{spec}?steps=5'.")
        if key in options:
            raise ValueError(f"agent option {key!r} is given twice in {label!r}.")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return BenchAgent(label, spec, options)


def split_agents(text: str) -> list[str]:
    """``"a,b?x=1&y=2,c"`` -> ``["a", "b?x=1&y=2", "c"]`` (commas separate agents)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise ValueError(f"--agents takes a comma-separated list of agent specs without empty entries, got {text!r}.")
    return parts
