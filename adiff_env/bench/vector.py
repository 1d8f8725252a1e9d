"""Vectorized evaluation: the ``adiff evaluate`` protocol over ``gymnasium.vector`` envs.

Episode ``i`` (``0 <= i < episodes``) is reset with seed ``seed + i`` exactly as
:func:`adiff_env.evaluation.run_episodes` does, whichever sub-env runs it, so returns match
the one-env protocol for deterministic agents. Sub-envs run with autoreset disabled; a finished
sub-env is reset (``reset_mask``) with the next episode's seed, or with no seed once every
episode is handed out (its further episodes are not recorded).

Agents. One call per step for all sub-envs when the agent declares ``batch_predict = True``:
its ``predict`` takes observations with a leading env axis ``[N, ...]`` and ``episode_start``
``[N]`` and returns actions ``[N, A]`` (the planner batches its sampler calls; SB3 models and
MLP policies run one forward pass). Any other agent is built once per sub-env (agents such as
the waypoint expert hold one env's plan) and called per sub-env. No agent is special-cased.

An agent with ``bind_envs(handles)`` (the trajectory planner) is handed one handle per sub-env
it acts on (:func:`sub_env_handles`), so state-dependent acting options such as reward guidance
(``planner:NAME?reward=task``: coins not yet taken) read each sub-env's own state, not the
template env the agent was built on.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np

from adiff_env.agents import Agent, make_agent
from adiff_env.errors import UnknownNameError
from adiff_env.evaluation import EvalResult, coin_stats

VECTOR_MODES = ("async", "sync")


def make_vector_env(env_id: str, n_envs: int, mode: str = "async", env_kwargs: dict[str, Any] | None = None) -> gym.vector.VectorEnv:
    """``n_envs`` copies of ``env_id`` in a Sync/Async vector env with autoreset disabled."""
    if mode not in VECTOR_MODES:
        raise UnknownNameError("vector mode", mode, VECTOR_MODES)
    kwargs = dict(env_kwargs or {})

    def thunk() -> gym.Env:
        import adiff_env  # noqa: F401  (registers the ids in worker processes)

        return gym.make(env_id, **kwargs)

    cls = gym.vector.AsyncVectorEnv if mode == "async" else gym.vector.SyncVectorEnv
    return cls([thunk] * n_envs, autoreset_mode=gym.vector.AutoresetMode.DISABLED)


class SubEnvView:
    """Sub-env ``i`` of an :class:`~gymnasium.vector.AsyncVectorEnv` as an agent's env handle:
    ``task_reward()`` is that sub-env's, built in its worker on its live state (``envs.call``);
    every other attribute is the ``template`` env's (same id and keywords: the map, the
    reward factories). ``unwrapped`` is the view itself."""

    def __init__(self, envs: gym.vector.VectorEnv, index: int, template: gym.Env) -> None:
        self._envs, self._index, self._template = envs, int(index), template

    @property
    def unwrapped(self) -> SubEnvView:
        return self

    @property
    def spec(self) -> Any:
        return self._template.spec

    def task_reward(self, *args: Any, **kwargs: Any) -> Any:
        return self._envs.call("task_reward", *args, **kwargs)[self._index]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._template.unwrapped, name)


def sub_env_handles(envs: gym.vector.VectorEnv, template: gym.Env) -> list[Any]:
    """One env handle per sub-env of ``envs``: the sub-env itself in a sync vector env, a
    :class:`SubEnvView` in an async one."""
    subs = getattr(envs, "envs", None)
    if subs is not None:
        return list(subs)
    return [SubEnvView(envs, i, template) for i in range(envs.num_envs)]


def bind_agents(agents: list[Agent], handles: list[Any]) -> None:
    """Hand each agent that takes them (``bind_envs``) the handles of the sub-envs it acts on:
    all of them to one batched agent, sub-env ``i``'s to agent ``i`` otherwise."""
    if len(agents) == 1 and getattr(agents[0], "batch_predict", False):
        groups = [handles]
    else:
        groups = [[h] for h in handles]
    for agent, group in zip(agents, groups):
        bind = getattr(agent, "bind_envs", None)
        if callable(bind):
            bind(group)


def _row(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def _success(infos: dict[str, Any], i: int) -> bool:
    for key in ("success", "is_success"):
        if key in infos and infos.get(f"_{key}", np.ones(i + 1, dtype=bool))[i]:
            return bool(infos[key][i])
    return False


def merge_stats(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """One agent's ``eval_stats()``, or for per-env agents the mean of numeric figures (others from the first)."""
    if len(stats) <= 1:
        return dict(stats[0]) if stats else {}
    out = dict(stats[0])
    for key, _value in out.items():
        values = [s.get(key) for s in stats]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = float(np.mean(values))
    return out


def run_vector_episodes(
    envs: gym.vector.VectorEnv,
    agents: list[Agent],
    episodes: int,
    seed: int,
    progress: bool = False,
    desc: str = "",
    bar: Any = None,
    coins: list[float] | None = None,
    last_step: bool = False,
    ever: list[bool] | None = None,
    zone: list[float] | None = None,
) -> tuple[list[float], list[bool], list[int]]:
    """Run ``episodes`` episodes (reset seeds ``seed + i``) on ``envs``; ``agents`` is one batched
    agent or one agent per sub-env. ``bar``: an outer tqdm bar to advance per finished episode
    (instead of one of its own). ``coins``: as in :func:`~adiff_env.evaluation.run_episodes`
    (in episode order). ``last_step``: success is the last step's (Fetch), not any step's.
    ``ever``: if given, whether each episode succeeded at any step is appended (episode order).
    ``zone``: if given, on envs whose ``info`` has ``in_zone`` (forbidden-zone tasks), each
    episode's share of steps with ``in_zone`` true is appended (episode order).
    Returns per-episode (returns, successes, lengths) in episode order."""
    n = envs.num_envs
    batched = len(agents) == 1 and getattr(agents[0], "batch_predict", False)
    if not batched and len(agents) != n:
        raise ValueError(f"need one batched agent or {n} agents (one per sub-env), got {len(agents)}.")
    returns, successes, lengths = [0.0] * episodes, [False] * episodes, [0] * episodes
    collected: list[float | None] = [None] * episodes
    hit, inside, zone_seen = [False] * episodes, [0] * episodes, False
    slot: list[int | None] = [i if i < episodes else None for i in range(n)]
    next_episode = min(n, episodes)

    def reset(mask: np.ndarray) -> Any:
        seeds = [seed + slot[i] if mask[i] and slot[i] is not None else None for i in range(n)]
        return envs.reset(seed=seeds, options={"reset_mask": mask})[0]

    obs = reset(np.ones(n, dtype=bool))
    starts = np.ones(n, dtype=bool)
    states: list[Any] = [None] * len(agents)
    finished_count = 0
    own_bar = bar is None
    if own_bar:
        from tqdm.auto import tqdm  # deferred: adiff --help builds this module's configs

        bar = tqdm(total=episodes, desc=desc or "episodes", disable=not progress, leave=False)
    while finished_count < episodes:
        if batched:
            actions, states[0] = agents[0].predict(obs, state=states[0], episode_start=starts.copy(), deterministic=True)
        else:
            rows = []
            for i, agent in enumerate(agents):
                action, states[i] = agent.predict(_row(obs, i), state=states[i], episode_start=bool(starts[i]), deterministic=True)
                rows.append(np.asarray(action))
            actions = np.stack(rows)
        starts[:] = False
        obs, rewards, terminated, truncated, infos = envs.step(np.asarray(actions))
        done = np.asarray(terminated) | np.asarray(truncated)
        for i in range(n):
            ep = slot[i]
            if ep is None:
                continue
            returns[ep] += float(rewards[i])
            lengths[ep] += 1
            now = _success(infos, i)
            hit[ep] = hit[ep] or now
            successes[ep] = now if last_step else hit[ep]
            if "in_zone" in infos and infos.get("_in_zone", np.ones(n, dtype=bool))[i]:
                zone_seen = True
                inside[ep] += int(bool(infos["in_zone"][i]))
            if done[i]:
                if "coins_collected" in infos and infos.get("_coins_collected", np.ones(n, dtype=bool))[i]:
                    collected[ep] = float(np.sum(infos["coins_collected"][i]))
                finished_count += 1
                bar.update(1)
                slot[i] = next_episode if next_episode < episodes else None
                next_episode = min(next_episode + 1, episodes)
        if done.any() and finished_count < episodes:
            obs = reset(done)
            starts[done] = True
    if own_bar:
        bar.close()
    if coins is not None:
        coins.extend(c for c in collected if c is not None)
    if ever is not None:
        ever.extend(hit)
    if zone is not None and zone_seen:
        zone.extend(k / max(t, 1) for k, t in zip(inside, lengths, strict=True))
    return returns, successes, lengths


def evaluate_vector(
    env_id: str,
    agent_spec: str,
    episodes: int = 10,
    seed: int = 0,
    *,
    n_envs: int = 8,
    mode: str = "async",
    env_kwargs: dict[str, Any] | None = None,
    agent_options: dict[str, Any] | None = None,
    progress: bool = False,
    desc: str = "",
    force_per_env: bool = False,
    bar: Any = None,
) -> EvalResult:
    """:func:`adiff_env.evaluation.evaluate` over ``n_envs`` vector sub-envs (module docstring).

    ``env_id`` may be an env name ``ID?KEY=VALUE&...`` whose keywords go to ``gym.make`` with
    ``env_kwargs`` (:func:`~adiff_env.bench.suites.split_env_name`). On envs that count success
    at the last step (Fetch) ``extra`` has ``ever_success_rate``; on forbidden-zone envs
    ``zone_steps_mean`` (share of steps with the object in the zone, mean over episodes) and
    ``zone_episodes`` (share of episodes that entered it).

    ``force_per_env`` builds one agent per sub-env even for batched agents (for measuring the
    batching speed-up); results carry ``n_envs`` and ``batched`` in ``extra``."""
    if episodes < 1 or n_envs < 1:
        raise ValueError(f"episodes and n_envs must be >= 1, got {episodes} and {n_envs}.")

    n_envs = min(n_envs, episodes)
    from adiff_env.bench.suites import split_env_name

    make_id, named = split_env_name(env_id)
    clash = sorted(set(named) & set(env_kwargs or {}))
    if clash:
        raise ValueError(f"env keyword(s) {clash} given both in {env_id!r} and in env_kwargs.")
    env_kwargs = {**named, **(env_kwargs or {})}
    template = gym.make(make_id, **env_kwargs)
    try:
        agents = [make_agent(agent_spec, template, agent_options)]
        if force_per_env or not getattr(agents[0], "batch_predict", False):
            agents += [make_agent(agent_spec, template, agent_options) for _ in range(n_envs - 1)]
        envs = make_vector_env(make_id, n_envs, mode, env_kwargs)
        try:
            bind_agents(agents, sub_env_handles(envs, template))
            start = time.perf_counter()
            coins: list[float] = []
            ever: list[bool] = []
            zone: list[float] = []
            last_step = bool(getattr(template.unwrapped, "success_at_last_step", False))
            returns, successes, lengths = run_vector_episodes(envs, agents, episodes, seed, progress, desc, bar, coins=coins,
                                                              last_step=last_step, ever=ever, zone=zone)
            wall = time.perf_counter() - start
        finally:
            envs.close()
        scorer = getattr(template.unwrapped, "get_normalized_score", None)
        extra = merge_stats([a.eval_stats() for a in agents if hasattr(a, "eval_stats")])
        extra.update(n_envs=n_envs, batched=len(agents) == 1)
        extra.update(coin_stats(template, coins))
        if last_step:
            extra["ever_success_rate"] = float(np.mean(ever))
        if zone:
            extra.update(zone_steps_mean=float(np.mean(zone)), zone_episodes=float(np.mean([z > 0 for z in zone])))
        return EvalResult.from_episodes(env_id, agent_spec, seed, returns, successes, lengths, wall, scorer, extra)
    finally:
        template.close()
