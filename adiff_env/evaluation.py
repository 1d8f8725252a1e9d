"""The evaluation protocol behind ``adiff evaluate`` and ``adiff bench``.

``evaluate(env_id, agent_spec, episodes, seed)`` runs ``episodes`` episodes with reset seeds
``seed, seed + 1, ...`` and returns an :class:`EvalResult`. The normalized score is the
env's own ``get_normalized_score(return)`` (D4RL method, 0-1 scale); the x100 figure is the
same number on the literature's scale. An agent may expose ``eval_stats() -> dict`` to add
its own figures (planning time, sampler) to the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from adiff_env.agents import Agent, make_agent


@dataclass
class EvalResult:
    """Summary of one agent x env x seed evaluation. ``returns`` keeps the raw episodes."""

    env: str
    agent: str
    episodes: int
    seed: int
    return_mean: float
    return_std: float
    normalized_score_mean: float | None
    normalized_score_x100_mean: float | None
    normalized_score_x100_std: float | None
    success_rate: float
    episode_length_mean: float
    wall_s: float
    steps_per_s: float
    returns: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_episodes(
        cls,
        env: str,
        agent: str,
        seed: int,
        returns: list[float],
        successes: list[bool],
        lengths: list[int],
        wall_s: float,
        scorer: Callable[[float], float] | None,
        extra: dict[str, Any],
    ) -> EvalResult:
        """Summarize per-episode results; ``scorer`` is the env's ``get_normalized_score`` (or None)."""
        scores = np.array([scorer(r) for r in returns]) if scorer is not None else None
        return cls(
            env=env,
            agent=agent,
            episodes=len(returns),
            seed=seed,
            return_mean=float(np.mean(returns)),
            return_std=float(np.std(returns)),
            normalized_score_mean=None if scores is None else float(scores.mean()),
            normalized_score_x100_mean=None if scores is None else float(100 * scores.mean()),
            normalized_score_x100_std=None if scores is None else float(100 * scores.std()),
            success_rate=float(np.mean(successes)),
            episode_length_mean=float(np.mean(lengths)),
            wall_s=wall_s,
            steps_per_s=float(sum(lengths) / wall_s) if wall_s > 0 else float("nan"),
            returns=[float(r) for r in returns],
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        out.update(extra)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def summary(self) -> str:
        lines = [
            f"env            {self.env}",
            f"agent          {self.agent}",
            f"episodes       {self.episodes} (seeds {self.seed}..{self.seed + self.episodes - 1})",
            f"return         {self.return_mean:.2f} ± {self.return_std:.2f}",
        ]
        if self.normalized_score_x100_mean is not None:
            lines.append(
                f"normalized     {self.normalized_score_x100_mean:.1f} ± {self.normalized_score_x100_std:.1f}"
                "  (x100 scale, D4RL: 0 = random, 100 = reference expert)"
            )
        lines += [
            f"success rate   {self.success_rate:.1%}",
            f"episode length {self.episode_length_mean:.1f}",
            f"wall time      {self.wall_s:.1f} s ({self.steps_per_s:.0f} env steps/s)",
        ]
        lines += [f"{k:<14} {v}" for k, v in self.extra.items()]
        return "\n".join(lines)


def run_episodes(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    seed: int,
    progress: bool = False,
    desc: str = "",
    episode_options: Callable[[int], dict[str, Any] | None] | None = None,
    coins: list[float] | None = None,
    ever: list[bool] | None = None,
) -> tuple[list[float], list[bool], list[int]]:
    """Roll ``agent`` in ``env`` for ``episodes`` episodes (reset seeds ``seed + i``).

    ``episode_options(i)`` gives episode ``i``'s reset options (e.g. a start and goal cell for
    the multi-task maze protocol). Returns per-episode (returns, successes, lengths). Success
    means the env's ``info["success"]`` (or ``info["is_success"]``) was true at any step, or,
    on envs whose unwrapped env sets ``success_at_last_step = True`` (Fetch), at the last step.
    ``coins``: if given, each episode's number of gold coins collected is appended to it (on
    envs whose ``info`` has ``coins_collected``). ``ever``: if given, whether each episode
    succeeded at any step is appended to it.
    """
    last_step = bool(getattr(env.unwrapped, "success_at_last_step", False))
    returns, successes, lengths = [], [], []
    from tqdm.auto import tqdm  # deferred: adiff --help builds this module's configs

    for i in tqdm(range(episodes), desc=desc or "episodes", disable=not progress, leave=False):
        options = episode_options(i) if episode_options is not None else None
        obs, info = env.reset(seed=seed + i, options=options)
        state, episode_start = None, True
        total, steps, success, hit = 0.0, 0, False, False
        while True:
            action, state = agent.predict(obs, state=state, episode_start=episode_start, deterministic=True)
            episode_start = False
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += 1
            now = bool(info.get("success", info.get("is_success", False)))
            hit = hit or now
            success = now if last_step else hit
            if terminated or truncated:
                break
        if coins is not None and "coins_collected" in info:
            coins.append(float(np.sum(info["coins_collected"])))
        if ever is not None:
            ever.append(hit)
        returns.append(total)
        successes.append(success)
        lengths.append(steps)
    return returns, successes, lengths


def evaluate(
    env_id: str,
    agent_spec: str,
    episodes: int = 10,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    agent_options: dict[str, Any] | None = None,
) -> EvalResult:
    """Evaluate the agent named by ``agent_spec`` on ``env_id``; see the module docstring."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}.")

    env = gym.make(env_id, **(env_kwargs or {}))
    agent = None
    try:
        agent = make_agent(agent_spec, env, agent_options)
        start = time.perf_counter()
        coins: list[float] = []
        ever: list[bool] = []
        returns, successes, lengths = run_episodes(env, agent, episodes, seed, progress, desc=f"{agent_spec} on {env_id}",
                                                   coins=coins, ever=ever)
        wall = time.perf_counter() - start
        scorer = getattr(env.unwrapped, "get_normalized_score", None)
        extra = dict(agent.eval_stats()) if hasattr(agent, "eval_stats") else {}
        extra.update(attempt_stats(env, successes, lengths))
        extra.update(coin_stats(env, coins))
        if getattr(env.unwrapped, "success_at_last_step", False):  # Fetch: success counts at the last step
            extra["ever_success_rate"] = float(np.mean(ever))
        return EvalResult.from_episodes(env_id, agent_spec, seed, returns, successes, lengths, wall, scorer, extra)
    finally:
        close = getattr(agent, "close", None)  # e.g. a code agent's own sandbox
        if callable(close):
            close()
        env.close()


def coin_stats(env: gym.Env, coins: list[float]) -> dict[str, float]:
    """For gold-coin mazes: ``coins_mean`` = coins collected per episode, ``coins_available`` =
    coins in the maze (empty for envs without coins)."""
    positions = getattr(env.unwrapped, "coin_positions", None)
    if not coins or positions is None or len(positions) == 0:
        return {}
    return {"coins_mean": float(np.mean(coins)), "coins_available": int(len(positions))}


def attempt_stats(env: gym.Env, successes: list[bool], lengths: list[int]) -> dict[str, float]:
    """For envs with several attempts per episode (the code env's ``max_attempts``): ``pass@1``
    = share of episodes solved by the first submission, ``pass@K`` = solved within the K
    attempts the env allows (the agent sees the failed tests between attempts)."""
    k = getattr(env.unwrapped, "max_attempts", None)
    if not isinstance(k, int) or not successes:
        return {}
    first = [s and n == 1 for s, n in zip(successes, lengths, strict=True)]
    return {"pass@1": float(np.mean(first)), f"pass@{k}": float(np.mean(successes))}
