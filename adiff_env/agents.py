"""One agent protocol for every agent (ours and baselines), and one registry of agent kinds.

Every agent follows Stable-Baselines3's ``predict`` signature, so our planners drop into
``stable_baselines3.common.evaluation.evaluate_policy`` and SB3 models are agents as they are::

    predict(observation, state=None, episode_start=None, deterministic=True) -> (action, state)

Agents are named on the command line by a *spec*, ``KIND[:ARG][?KEY=VALUE&KEY2=VALUE2]``
(``random``, ``expert:0.3``, ``planner:pointmaze-umaze@v2?sampler=ddim&steps=5``,
``sb3:runs/sac.zip``); :func:`parse_agent` is the one parser of that syntax. Each module that provides a
kind registers a factory with :func:`register_agent` (our domains and plugins alike, through the
entry-point group ``adiff_env.agents``); :func:`make_agent` parses the spec and calls it. There is no if-chain over kinds anywhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from adiff_env.errors import ConfigError, UnknownNameError


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

OptionCheck = Callable[[dict[str, Any]], dict[str, Any]]
"""``check(options) -> options``: names and values of a kind's options checked (text parsed by
type), raising :class:`~adiff_env.errors.UnknownNameError` / ``ConfigError``; loads nothing."""


@dataclass(frozen=True)
class AgentKind:
    """One factory of a kind. ``applies_to(env) -> bool`` (None: every env) lets several
    domains serve one kind name: ``expert`` is the waypoint expert on a maze and the scripted
    expert on a Fetch env (their options are checked by the first registered factory's rule)."""

    name: str
    factory: AgentFactory
    help: str
    check_options: OptionCheck | None = None
    check_arg: Callable[[str], Any] | None = None
    applies_to: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class AgentSpec:
    """A parsed agent spec ``KIND[:ARG][?KEY=VALUE&KEY2=VALUE2]``.

    ``label``: the whole text (the agent's name in tables); ``kind``, ``arg``; ``options``:
    the factory's keywords (text values until :func:`check_agent` parses them by type)."""

    label: str
    kind: str
    arg: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """``KIND[:ARG]`` without the options."""
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


_KINDS: dict[str, list[AgentKind]] = {}


def register_agent(name: str, factory: AgentFactory, help: str = "", check_options: OptionCheck | None = None,
                   check_arg: Callable[[str], Any] | None = None, applies_to: Callable[[Any], bool] | None = None) -> None:
    """Register an agent kind. Re-registering a name replaces it (useful in plugins/tests);
    with ``applies_to``, the factory serves only the envs it accepts, next to the kind's other
    factories (re-registering the same ``applies_to`` replaces that one).

    ``check_options`` validates the kind's options before anything is loaded (see
    :data:`OptionCheck`); without it the factory's keyword names are the valid options.
    ``check_arg(arg)`` checks the text after ``KIND:`` cheaply (e.g. that the registry has
    that model, reading no weights); :func:`check_agent` calls it with ``resolve=True``."""
    if not name or ":" in name or "?" in name:
        raise ValueError(f"Agent kind name must be non-empty and contain no ':' or '?', got {name!r}.")
    kept = [] if applies_to is None else [k for k in _KINDS.get(name, []) if k.applies_to not in (None, applies_to)]
    _KINDS[name] = [*kept, AgentKind(name, factory, help, check_options, check_arg, applies_to)]


def agent_kinds() -> dict[str, AgentKind]:
    """All registered kinds (built-ins and entry-point plugins), by name: for a kind served by
    several domains, its first factory, with every factory's help."""
    _load_builtin_kinds()
    out = {}
    for name, entries in _KINDS.items():
        helps = "; ".join(dict.fromkeys(k.help for k in entries if k.help))
        out[name] = dataclasses.replace(entries[0], help=helps)
    return out


def kind_factory(kind: str, env: gym.Env) -> AgentFactory:
    """The factory of ``kind`` that serves ``env``; errors name unknown kinds and kinds that
    serve other envs only."""
    _load_builtin_kinds()
    if kind not in _KINDS:
        raise UnknownNameError("agent kind", kind, _KINDS)
    entries = [k for k in reversed(_KINDS[kind]) if k.applies_to is None or k.applies_to(env)]
    if not entries:
        spec = getattr(env, "spec", None)
        raise ConfigError(f"Agent kind {kind!r} has no factory for {spec.id if spec else type(env).__name__}; it serves: "
                          f"{'; '.join(k.help for k in _KINDS[kind])}.")
    return entries[0].factory


def describe_kind(kind: str, env: gym.Env) -> str:
    """The help of the factory of ``kind`` that serves ``env``, without its usage part
    (e.g. ``"D4RL waypoint expert for PointMaze"``): for dataset cards and run records."""
    factory = kind_factory(kind, env)
    text = next(k.help for k in _KINDS[kind] if k.factory is factory)
    return text.split(" (")[0] if text.endswith(")") else text


def parse_agent_spec(spec: str) -> tuple[str, str]:
    """Split ``KIND:ARG`` (options after ``?`` dropped) into ``(kind, arg)``; ``arg`` is ``''`` when absent."""
    parsed = parse_agent(spec)
    return parsed.kind, parsed.arg


def parse_agent(text: str, options: dict[str, Any] | None = None) -> AgentSpec:
    """Parse ``KIND[:ARG][?KEY=VALUE&...]`` -- the one agent-option syntax of every command
    (``adiff evaluate --agent``, ``adiff bench --agents``, ``adiff demo --agent``, evolution's
    ``--from``). ``options`` (e.g. from ``--agent-option KEY=VALUE``) join the query's; a key
    given twice is an error. Values stay text here; :func:`check_agent` types them."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"Agent spec must be a non-empty string like 'random', 'planner:NAME' or "
                          f"'planner:NAME?steps=5', got {text!r}.")
    label = text.strip()
    base, _, query = label.partition("?")
    kind, _, arg = base.partition(":")
    if not kind:
        raise ConfigError(f"Agent spec {label!r} has no kind before ':' (e.g. 'planner:NAME').")
    out: dict[str, Any] = key_values(
        filter(None, query.split("&")),
        bad=lambda pair: f"agent option {pair!r} in {label!r} must be KEY=VALUE, e.g. '{base}?steps=5'.",
        twice=lambda key: f"agent option {key!r} is given twice in {label!r}.")
    for key, value in (options or {}).items():
        if key in out:
            raise ConfigError(f"agent option {key!r} is given both in {label!r} and as an option.")
        out[key] = value
    return AgentSpec(label, kind, arg, out)


def key_values(pairs: Iterable[str], bad: Callable[[str], str], twice: Callable[[str], str]) -> dict[str, str]:
    """``KEY=VALUE`` texts as a dict of text values; :class:`ConfigError` with ``bad(pair)`` for
    a pair without ``=`` or key, ``twice(key)`` for a key given twice."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(bad(pair))
        if key in out:
            raise ConfigError(twice(key))
        out[key] = value
    return out


def parse_option_pairs(pairs: list[str], flag: str = "--agent-option") -> dict[str, str]:
    """``["k=v", ...]`` (repeated ``--agent-option k=v``) as a dict of text values."""
    return key_values(pairs, bad=lambda pair: f"{flag} expects KEY=VALUE, got {pair!r}.",
                      twice=lambda key: f"{flag} {key!r} is given twice.")


def check_agent(spec: str | AgentSpec, options: dict[str, Any] | None = None, resolve: bool = False) -> AgentSpec:
    """The spec parsed, its kind known and its options checked and typed -- before any
    checkpoint is read, so a typo in an option fails at once with the valid names. With
    ``resolve`` the kind's ``check_arg`` then checks ARG (e.g. the model exists; no weights)."""
    if isinstance(spec, AgentSpec):
        clash = sorted(set(spec.options) & set(options or {}))
        if clash:
            raise ConfigError(f"agent option(s) {clash} given both in {spec.label!r} and as options.")
        parsed = AgentSpec(spec.label, spec.kind, spec.arg, {**spec.options, **(options or {})})
    else:
        parsed = parse_agent(spec, options)
    kinds = agent_kinds()
    if parsed.kind not in kinds:
        raise UnknownNameError("agent kind", parsed.kind, kinds)
    kind = kinds[parsed.kind]
    if kind.check_options is not None:
        typed = kind.check_options(dict(parsed.options))
    else:
        typed = _check_by_signature(kind, parsed.options)
    if resolve and kind.check_arg is not None:
        kind.check_arg(parsed.arg)
    return AgentSpec(parsed.label, parsed.kind, parsed.arg, typed)


def check_acting_options(act_cls: type, options: dict[str, Any], own: dict[str, Any], what: str,
                         aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Options = fields of the acting config ``act_cls`` + the factory's ``own`` keywords
    (name -> type). Unknown names raise UnknownNameError listing all; values are typed and
    the acting ones checked by building ``act_cls`` (defaults for the rest)."""
    from adiff_env import config

    act_types = config.field_types(act_cls)
    valid = sorted(set(act_types) | set(own))
    for key in sorted(options):
        if key not in act_types and key not in own:
            raise UnknownNameError(what, key, valid)
    typed = {k: config.coerce(v, own[k] if k in own else act_types[k], f"{what} {k!r}") for k, v in options.items()}
    act = {(aliases or {}).get(k, k): v for k, v in typed.items() if k in act_types or (aliases or {}).get(k) in act_types}
    act = {k: v for k, v in act.items() if k in act_types and v is not None}
    config.from_dict(act_cls, act, what + "s")
    return typed


def option_names(kind: str) -> list[str]:
    """The option names kind ``kind`` takes (for ``adiff agents list --options``)."""
    import inspect

    kinds = agent_kinds()
    if kind not in kinds:
        raise UnknownNameError("agent kind", kind, kinds)
    entry = kinds[kind]
    if entry.check_options is not None:
        try:
            entry.check_options({"?": ""})  # no option is named "?": the error lists the valid ones
        except UnknownNameError as exc:
            return list(exc.options)
        return []  # pragma: no cover - a check that accepts anything
    params = inspect.signature(entry.factory).parameters
    return [n for n in list(params)[2:] if params[n].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                                 inspect.Parameter.VAR_KEYWORD)]


def _check_by_signature(kind: AgentKind, options: dict[str, Any]) -> dict[str, Any]:
    import inspect

    from adiff_env.config import parse_value

    if not options:
        return {}
    params = inspect.signature(kind.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        valid = [n for n in list(params)[2:] if params[n].kind is not inspect.Parameter.VAR_POSITIONAL]
        for key in sorted(options):
            if key not in valid:
                if not valid:
                    raise ConfigError(f"Agent kind {kind.name!r} does not take options; drop {sorted(options)}.")
                raise UnknownNameError(f"{kind.name} option", key, valid)
    return {k: parse_value(v) if isinstance(v, str) else v for k, v in options.items()}


def make_agent(spec: str | AgentSpec, env: gym.Env, options: dict[str, Any] | None = None) -> Agent:
    """Build the agent named by ``spec`` (``KIND[:ARG][?KEY=VALUE&...]``) for ``env`` (the env
    gives spaces and task geometry). ``options`` join the spec's; both are checked by the
    kind (:func:`check_agent`) before the factory loads anything."""
    parsed = check_agent(spec, options)
    factory = kind_factory(parsed.kind, env)
    if not parsed.options:
        return factory(parsed.arg, env)
    return factory(parsed.arg, env, **parsed.options)


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
