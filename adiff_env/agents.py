"""One agent protocol for every agent (ours and baselines), and one registry of agent kinds.

Every agent follows Stable-Baselines3's ``predict`` signature, so our planners drop into
``stable_baselines3.common.evaluation.evaluate_policy`` and SB3 models are agents as they are::

    predict(observation, state=None, episode_start=None, deterministic=True) -> (action, state)

Agents are named on the command line by a *spec*, ``KIND`` or ``KIND:ARG`` (``random``,
``expert``, ``planner:pointmaze-umaze@v2``, ``sb3:runs/sac.zip``). Each module that provides a
kind registers a factory with :func:`register_agent` (our domains and plugins alike, through the
entry-point group ``adiff_env.agents``); :func:`make_agent` parses the spec and calls it. There is no if-chain over kinds anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from adiff_env.errors import UnknownNameError


@runtime_checkable
class Agent(Protocol):
    """Anything with SB3's ``predict``: our planners, baselines, SB3 models."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]: ...


AgentFactory = Callable[..., Agent]
"""``factory(arg, env, **options) -> agent``: ``arg`` is the text after ``KIND:`` ('' if none);
``options`` are keyword overrides (e.g. ``sampler="ddim", steps=10`` for planners). A factory
that takes no options is called as ``factory(arg, env)``."""


@dataclass(frozen=True)
class AgentKind:
    """One factory of a kind. ``applies_to(env) -> bool`` (None: every env) lets several
    domains serve one kind name: ``expert`` is the waypoint expert on a maze and the scripted
    expert on a Fetch env."""

    name: str
    factory: AgentFactory
    help: str
    applies_to: Callable[[Any], bool] | None = None


_KINDS: dict[str, list[AgentKind]] = {}


def register_agent(name: str, factory: AgentFactory, help: str = "",
                   applies_to: Callable[[Any], bool] | None = None) -> None:
    """Register an agent kind. Re-registering a name replaces its factory for the same envs
    (useful in plugins/tests); with ``applies_to``, the factory serves only the envs it
    accepts, next to the kind's other factories."""
    if not name or ":" in name:
        raise ValueError(f"Agent kind name must be non-empty and contain no ':', got {name!r}.")
    kept = [] if applies_to is None else [k for k in _KINDS.get(name, []) if k.applies_to not in (None, applies_to)]
    _KINDS[name] = [*kept, AgentKind(name, factory, help, applies_to)]


def agent_kinds() -> dict[str, AgentKind]:
    """All registered kinds (built-ins and entry-point plugins), by name (the first factory of
    a kind served by several; its help names them all)."""
    _load_builtin_kinds()
    out = {}
    for name, entries in _KINDS.items():
        helps = "; ".join(dict.fromkeys(k.help for k in entries if k.help))
        out[name] = AgentKind(name, entries[0].factory, helps, entries[0].applies_to)
    return out


def parse_agent_spec(spec: str) -> tuple[str, str]:
    """Split ``KIND:ARG`` into ``(kind, arg)``; ``arg`` is ``''`` when absent."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Agent spec must be a non-empty string like 'random' or 'planner:NAME', got {spec!r}.")
    kind, _, arg = spec.strip().partition(":")
    return kind, arg


def kind_factory(kind: str, env: gym.Env) -> AgentFactory:
    """The factory of ``kind`` that serves ``env``; errors name unknown kinds and kinds that
    serve other envs only."""
    _load_builtin_kinds()
    if kind not in _KINDS:
        raise UnknownNameError("agent kind", kind, _KINDS)
    entries = [k for k in reversed(_KINDS[kind]) if k.applies_to is None or k.applies_to(env)]
    if not entries:
        spec = getattr(env, "spec", None)
        raise ValueError(f"Agent kind {kind!r} has no factory for {spec.id if spec else type(env).__name__}; it serves: "
                         f"{'; '.join(k.help for k in _KINDS[kind])}.")
    return entries[0].factory


def describe_kind(kind: str, env: gym.Env) -> str:
    """The help of the factory of ``kind`` that serves ``env``, without its usage part
    (e.g. ``"D4RL waypoint expert for PointMaze"``): for dataset cards and run records."""
    factory = kind_factory(kind, env)
    text = next(k.help for k in _KINDS[kind] if k.factory is factory)
    return text.split(" (")[0] if text.endswith(")") else text


def make_agent(spec: str, env: gym.Env, options: dict[str, Any] | None = None) -> Agent:
    """Build the agent named by ``spec`` for ``env`` (the env gives spaces and task geometry).

    ``options`` go to the kind's factory as keywords; a kind that takes none (or not those)
    raises ``ValueError`` naming them."""
    kind, arg = parse_agent_spec(spec)
    factory = kind_factory(kind, env)
    if not options:
        return factory(arg, env)
    import inspect

    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in options if not takes_any and k not in params)
    if unknown:
        raise ValueError(f"Agent kind {kind!r} does not take the option(s) {unknown}; drop them or use another kind.")
    return factory(arg, env, **options)


class RandomAgent:
    """Uniform random actions from the env's action space (the D4RL ref_min policy).
    Batched: a dict observation with a leading env axis gets one action per env."""

    batch_predict = True

    def __init__(self, action_space: gym.Space, seed: int | None = None) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        n_envs = _batch_size(observation, self.action_space)
        if n_envs is None:
            return self.action_space.sample(), state
        return np.stack([self.action_space.sample() for _ in range(n_envs)]), state


def _batch_size(observation: Any, action_space: gym.Space) -> int | None:
    """Number of envs in a batched (vectorized) observation, or None for a single one."""
    first = next(iter(observation.values())) if isinstance(observation, dict) else observation
    arr = np.asarray(first)
    if isinstance(observation, dict):
        return arr.shape[0] if arr.ndim == 2 else None
    return None


def _random_factory(arg: str, env: gym.Env) -> Agent:
    seed = int(arg) if arg else None
    return RandomAgent(env.action_space, seed=seed)


_BUILTINS_LOADED = False


def _load_builtin_kinds() -> None:
    """Register ``random`` and every kind of the entry-point group ``adiff_env.agents``, once.

    The built-in kinds are entry points of this package too (``pyproject.toml``): each domain
    registers its own kinds, so this core module imports no domain. Imports are deferred until
    the first agent is made, so ``import adiff_env`` stays light."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    register_agent("random", _random_factory, "uniform random actions (RANDOM[:SEED])")
    from importlib.metadata import entry_points

    eps = list(entry_points(group="adiff_env.agents"))
    if not any(ep.value.startswith("adiff_env.") for ep in eps):
        raise RuntimeError("adiff-env's entry points are missing (the package is not installed): run 'uv sync' "
                           "in the checkout, or 'pip install -e .'.")
    for ep in eps:
        ep.load()()
