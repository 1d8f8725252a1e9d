"""Reward guidance as an acting option: the reward spec of ``planner:NAME?reward=SPEC``.

Grammar (``act.reward``; empty = no guidance)::

    SPEC   := TERM ( "+" TERM )*
    TERM   := NAME [ "[" ARG "]" ] [ ":" WEIGHT ]   WEIGHT: a plain decimal (default 1), e.g. 0.5, -0.02
    NAME   := "task"                     the env's own task reward, env.unwrapped.task_reward()
            | a reward of the env's registry: the domain's built-ins (env.unwrapped.reward_factories(),
              a maze: coins, free-cells, goal, hurry, path-length, time-to-goal, and with an ARG of
              cells avoid[r,c;r,c] and waypoint[r,c;...], :mod:`adiff_env.maze.zones`) and
              plugins of the entry-point group ``adiff_env.rewards``
    ARG    := text without "[", "]", "+", "&", "="; handed to the reward's factory as
              ``factory(env, arg=ARG)``, which checks it

e.g. ``coins``, ``task``, ``coins:1+free-cells:0.5``, ``task+path-length:-0.01``,
``avoid[3,2;3,3]``, ``task+waypoint[1,1]:0.5`` (a term's weight multiplies it; a negative
weight turns a reward into a cost). The guiding reward is
``sum_i w_i R_i`` (:class:`~adiff_env.evolve.rewards.Composite`); the planner uses its
differentiable form for guidance and its numpy form to rank candidates.

Checks, in order, before any checkpoint is read: the syntax (:func:`parse_reward_spec`, from
:class:`~adiff_env.planners.preset.ActConfig`, no env needed), then the names against the env
(:func:`check_reward_spec`: an unknown name raises :class:`~adiff_env.errors.UnknownNameError`
listing the env's rewards; ``task`` on an env without ``task_reward()`` a
:class:`~adiff_env.errors.ConfigError`; every named term is built once there, so a bad or
missing argument, or an ARG given to a reward that takes none, is a ``ConfigError`` naming it).

:class:`PlanReward` is what the planner calls at every replan: it rebuilds the reward from the
env's *current* state (a gold-coin maze: coins already taken no longer pay), so the plan is
guided by what is still to be won. This module imports no torch until a reward is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adiff_env.errors import ConfigError, UnknownNameError

TASK = "task"
"""The reward name that means the env's own ``task_reward()``."""


@dataclass(frozen=True)
class RewardTerm:
    """One ``NAME[:WEIGHT]`` term of a reward spec."""

    name: str
    weight: float = 1.0
    arg: str | None = None


def parse_reward_spec(text: str) -> tuple[RewardTerm, ...]:
    """The terms of ``text`` (module doc); ``''`` gives ``()`` (no guidance). Raises
    :class:`ConfigError` naming the bad term: an empty term, an empty name, a weight that is
    not a finite number, or a name given twice."""
    if not isinstance(text, str):
        raise ConfigError(f"reward spec must be a string like 'coins' or 'coins:1+free-cells:0.5', got {text!r}.")
    if not text.strip():
        return ()
    terms: list[RewardTerm] = []
    for raw in text.split("+"):
        part = raw.strip()
        head, sep, weight_text = _split_weight(part)
        name, arg = _split_arg(head, text)
        if not part or not name:
            raise ConfigError(f"reward spec {text!r} has an empty term {raw!r}; expected NAME[:WEIGHT] terms joined "
                              "by '+', e.g. 'coins:1+free-cells:0.5'.")
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ConfigError(f"reward spec {text!r}: the weight {weight_text!r} of {name!r} is not a number "
                                  "(write e.g. 'coins:0.5').") from None
            if not math.isfinite(weight):
                raise ConfigError(f"reward spec {text!r}: the weight of {name!r} must be finite, got {weight_text!r}.")
        if any(t.name == name for t in terms):
            raise ConfigError(f"reward spec {text!r} names {name!r} twice; give it once with the summed weight.")
        terms.append(RewardTerm(name, weight, arg))
    return tuple(terms)


def _split_weight(part: str) -> tuple[str, str, str]:
    """``NAME[ARG]:WEIGHT`` -> ``("NAME[ARG]", ":", "WEIGHT")``: the weight follows the last ``:``
    outside brackets."""
    cut = part.rfind("]") + 1  # 0 without brackets
    head, sep, weight = part[cut:].partition(":")
    return part[:cut] + head, sep, weight


def _split_arg(head: str, text: str) -> tuple[str, str | None]:
    """``NAME[ARG]`` -> ``(NAME, ARG)``; ``NAME`` -> ``(NAME, None)``."""
    name, bracket, rest = head.partition("[")
    if not bracket:
        if "]" in head:
            raise ConfigError(f"reward spec {text!r}: {head!r} has ']' without '['; write NAME[ARG], e.g. 'avoid[3,2]'.")
        return name.strip(), None
    if not rest.endswith("]") or "[" in rest or "]" in rest[:-1]:
        raise ConfigError(f"reward spec {text!r}: {head!r} must be NAME[ARG] with one bracketed argument, "
                          "e.g. 'avoid[3,2;3,3]'.")
    arg = rest[:-1].strip()
    if not arg:
        raise ConfigError(f"reward spec {text!r}: {head!r} has empty brackets; give the argument, e.g. 'avoid[3,2]'.")
    return name.strip(), arg


def _unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(_unwrapped(env)).__name__


def env_reward_factories(env: Any) -> dict[str, Any]:
    """The named rewards of ``env``: its domain's built-ins (``env.unwrapped.reward_factories()``,
    if the env has it) plus the ``adiff_env.rewards`` plugins."""
    from adiff_env.evolve.rewards import reward_factories

    own = getattr(_unwrapped(env), "reward_factories", None)
    return reward_factories(own() if callable(own) else None)


def has_task_reward(env: Any) -> bool:
    """Whether ``env.unwrapped`` offers ``task_reward()``."""
    return callable(getattr(_unwrapped(env), "task_reward", None))


def check_reward_spec(text: str, env: Any) -> tuple[RewardTerm, ...]:
    """The parsed terms, every name checked against ``env`` (module doc)."""
    terms = parse_reward_spec(text)
    if not terms:
        return terms
    factories = env_reward_factories(env)
    valid = ([TASK] if has_task_reward(env) else []) + sorted(factories)
    for term in terms:
        if term.name == TASK:
            if not has_task_reward(env):
                raise ConfigError(
                    f"reward 'task' needs an env with task_reward(); {_env_name(env)} has none. "
                    f"Name its rewards instead: {', '.join(valid) or '(none registered)'}."
                )
            if term.arg is not None:
                raise ConfigError(f"reward 'task' takes no argument, got 'task[{term.arg}]'.")
        elif term.name not in factories:
            raise UnknownNameError(f"reward for {_env_name(env)}", term.name, valid, plural="rewards")
        else:
            build_term(factories, term, env)  # a bad or missing argument fails here, before any checkpoint is read
    return terms


def build_term(factories: dict[str, Any], term: RewardTerm, env: Any) -> Any:
    """``factories[term.name](env[, arg=term.arg])``; a bad or unexpected argument is a
    :class:`ConfigError` naming the term."""
    factory = factories[term.name]
    if term.arg is None:
        return _build_plain(factory, term, env)
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if "arg" not in params:
        raise ConfigError(f"reward {term.name!r} takes no argument, got '{term.name}[{term.arg}]'; write "
                          f"'{term.name}' alone.")
    try:
        return factory(env, arg=term.arg)
    except ValueError as exc:
        raise ConfigError(f"reward term '{term.name}[{term.arg}]': {exc}") from exc


def _build_plain(factory: Any, term: RewardTerm, env: Any) -> Any:
    try:
        return factory(env)
    except ValueError as exc:  # e.g. a reward that needs an argument (avoid[...]) given none
        raise ConfigError(f"reward term {term.name!r}: {exc}") from exc


class PlanReward:
    """Builds the guiding reward of a spec from ``env``'s current state; call it at each replan.

    ``PlanReward(spec, env)()`` -> a reward with ``__call__(states [T, O]) -> float`` and
    ``torch_reward(states [B, H, O]) -> [B]`` (one term of weight 1: the term itself; else a
    :class:`~adiff_env.evolve.rewards.Composite`). ``env`` is the env the planner acts on (the
    same object, so its state is the episode's)."""

    def __init__(self, spec: str, env: Any) -> None:
        self.spec = spec
        self.terms = check_reward_spec(spec, env)
        if not self.terms:
            raise ConfigError("PlanReward needs a non-empty reward spec, e.g. 'coins' or 'task'.")
        self.env = env
        self._factories = env_reward_factories(env)

    def __call__(self, reached: Any = ()) -> Any:
        """The reward on the env's current state; ``reached`` ``[R, G]``: points the agent has
        passed this episode (route hints' points), which rewards with ``without(reached)``
        (waypoints) no longer pay for."""
        from adiff_env.evolve.rewards import Composite, has_torch

        parts = []
        for term in self.terms:
            if term.weight == 0:
                continue
            reward = _unwrapped(self.env).task_reward() if term.name == TASK else build_term(self._factories, term, self.env)
            if len(reached) and callable(getattr(reward, "without", None)):
                reward = reward.without(reached)
            if not has_torch(reward):
                raise ConfigError(f"reward {term.name!r} ({type(reward).__name__}) has no differentiable "
                                  "torch_reward, so it cannot guide sampling; drop it from the reward spec.")
            parts.append((term.weight, reward))
        if not parts:
            raise ConfigError(f"reward spec {self.spec!r} has only zero weights; give a term a non-zero weight.")
        return parts[0][1] if len(parts) == 1 and parts[0][0] == 1.0 else Composite(parts)
