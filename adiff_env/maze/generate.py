"""The maze's guided generation for self-evolution: random start/goal pairs -> reward-guided
plans -> consistency filter (used by :class:`~adiff_env.maze.evolve.MazeEvolveDomain`).

For each pair (two distinct free cells drawn with a seeded generator):

1. reset the env with ``reset_cell``/``goal_cell`` (the maze's own start noise applies);
2. sample ``candidates`` plans with the planner's conditioning (start state at index 0, goal
   from the deadline index ``j`` on: the geodesic deadline, which asks for the shortest path,
   or the last index) and reward-gradient guidance on the task reward (``planner_guide``);
   rank them by the same reward and take the best — with a path-length term in the task
   reward the shorter plans win, as AdaptDiffuser's author describes for mazes;
3. run the consistency filter on the first ``j + rest`` planned states; a kept plan yields
   its EXECUTED rollout, scored by the task reward (numpy form) on the executed states.

``mode="closed-loop"`` is the fallback for planners whose open-loop plans are not dynamically
consistent (measured on the shipped U-Maze checkpoint: the state at index 1 lies ~2 units from
the inpainted start, so 0 of 20 plans pass; the planner still acts well because it replans
every few steps). The guided planner then drives the real env receding-horizon, as it acts in
evaluation, and the executed episode is kept if it reaches the goal: feasible by construction,
the discriminator reduced to "executed in the real env and successful".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from adiff_env.diffusion import GuidanceConfig
from adiff_env.evolve.buffer import OBS_PREFIX
from adiff_env.evolve.rewards import has_torch, planner_guide
from adiff_env.maze.filter import ConsistencyFilter, FilterConfig
from adiff_env.maze.pace import ReferencePace, arrival_step
from adiff_env.maze.rewards import task_reward

REST_STEPS = 8  # planned resting rows kept after the goal index


@dataclass
class MazeGenerated:
    """One round's generation: kept rollouts and their rewards, plus counts and deviations."""

    items: list[dict[str, np.ndarray]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    generated: int = 0
    infeasible: int = 0
    unsuccessful: int = 0
    slower: int = 0
    coinless: int = 0
    deviations: list[float] = field(default_factory=list)
    arrivals: list[tuple[int | None, int | None]] = field(default_factory=list)


def draw_pairs(env: Any, n: int, rng: np.random.Generator,
               min_turns: int = 0) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """``n`` (start cell, goal cell) pairs of distinct free cells of the maze. ``min_turns``:
    only pairs whose shortest cell route (:func:`~adiff_env.maze.layout.route_turns`) turns at
    least that often: the routes where cutting a corner can beat the expert; drawn uniformly
    among those pairs. 0 (default) keeps the original draw (the same pairs for a seed)."""
    from adiff_env.maze.layout import route_turns

    if min_turns < 0:
        raise ValueError(f"min_turns must be >= 0, got {min_turns}.")
    layout = env.unwrapped.layout
    free = list(layout.free)
    if len(free) < 2:
        raise ValueError("the maze needs at least two free cells to draw start/goal pairs.")
    pairs = []
    if min_turns == 0:
        for _ in range(n):
            i, j = rng.choice(len(free), size=2, replace=False)
            pairs.append((tuple(free[i]), tuple(free[j])))
        return pairs
    eligible = [(tuple(a), tuple(b)) for a in free for b in free
                if a != b and route_turns(layout, a, b) >= min_turns]
    if not eligible:
        most = max(route_turns(layout, a, b) for a in free for b in free if a != b)
        raise ValueError(f"min_turns={min_turns}: no start/goal pair of this maze has a route with that many turns "
                         f"(the most is {most}).")
    return [eligible[int(i)] for i in rng.integers(len(eligible), size=n)]


MODES = ("open-loop", "closed-loop")


def generate(planner: Any, env: Any, *, samples: int, candidates: int, reward_weights: dict[str, float],
             guidance: GuidanceConfig, filter_config: FilterConfig, deadline: str = "geodesic",
             require_success: bool = True, seed: int = 0, progress: bool = False, mode: str = "open-loop",
             pair_range: tuple[int, int] | None = None, pace: ReferencePace | None = None,
             require_coins: bool = False, min_turns: int = 0) -> MazeGenerated:
    """Generate, filter and score ``samples`` plans (module doc). ``planner`` is a
    :class:`~adiff_env.planners.trajectory.TrajectoryPlanner` built for ``env``.

    ``pair_range = (start, stop)``: only pairs ``start .. stop - 1`` of the ``samples`` pairs
    that ``seed`` draws (a shard of the round, :class:`MazeShard`); each pair keeps its reset
    seed ``seed * 100_003 + k``, so the shards of a round together reset the env exactly as
    the whole round does.

    ``pace``: a :class:`~adiff_env.maze.pace.ReferencePace`; its agent first plays each pair on
    the same reset, and a successful rollout is kept only if it arrives no later than the
    reference (minus the pace's margin); the others count as ``slower``. ``arrivals`` records
    ``(rollout's arrival step, reference's)`` for every successful rollout.

    ``require_coins``: on a gold-coin maze keep only the executed episodes that took every coin
    (:func:`took_all_coins`; counted in ``coinless`` otherwise), so the buffer holds coin tours
    that reached the goal, not plain goal-reaching episodes.

    ``min_turns``: draw only pairs whose shortest cell route turns at least that often
    (:func:`draw_pairs`)."""
    from tqdm.auto import tqdm

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    rng = np.random.default_rng(seed)
    out = MazeGenerated()
    a, h = planner.action_dim, planner.horizon
    filt = ConsistencyFilter(env, filter_config)
    pairs = draw_pairs(env, samples, rng, min_turns=min_turns)
    first, stop = pair_range if pair_range is not None else (0, samples)
    if not 0 <= first <= stop <= samples:
        raise ValueError(f"pair_range must lie within [0, samples={samples}], got {pair_range}.")
    for k in tqdm(range(first, stop), desc="generate", disable=not progress, leave=False):
        start, goal_cell = pairs[k]
        options = {"reset_cell": start, "goal_cell": goal_cell}
        reference = pace.arrival(seed * 100_003 + k, options) if pace is not None else None
        obs, _ = env.reset(seed=seed * 100_003 + k, options=options)
        s, goal = np.asarray(obs["observation"], dtype=np.float64), np.asarray(obs["desired_goal"], dtype=np.float64)
        j = planner.initial_deadline(s, goal) if deadline == "geodesic" else h - 1
        j = int(np.clip(j, 1, h - 1))
        reward = task_reward(env, reward_weights, goal=goal)
        rank, guide = _ranked_and_guided(planner, reward, guidance)

        def guided_plan(s_now: np.ndarray, goal_now: np.ndarray, steps_left: int, rank=rank, guide=guide) -> np.ndarray:
            taken = getattr(env.unwrapped, "coins_collected", None)
            if mode == "closed-loop" and taken is not None and np.any(taken):
                # mid-episode replans: coins already taken no longer pull the plan back
                rank, guide = _ranked_and_guided(planner, task_reward(env, reward_weights, goal=goal_now, collected=taken),
                                                 guidance)
            result = planner.sample_plans(s_now, goal_now, steps_left, candidates, guide=guide, guidance=guidance, reward_fn=rank)
            return planner.normalizer.unnormalize(result.best.detach().cpu().numpy().astype(np.float64))

        out.generated += 1
        if mode == "closed-loop":
            rollout = _drive(planner, env, obs, guided_plan, max_steps=drive_steps(planner, env, j))
            executed = rollout[OBS_PREFIX + "observation"]
            if np.linalg.norm(executed[-1, :2] - goal) > 0.5:
                out.unsuccessful += 1
                continue
            if require_coins and not took_all_coins(rollout):
                out.coinless += 1
                continue
            if pace is not None and not _keep_pace(out, pace, rollout, goal, reference):
                continue
            out.items.append(rollout)
            out.rewards.append(reward(executed))
            continue
        states = guided_plan(s, goal, j)[: min(h, j + 1 + REST_STEPS), a:]
        checked = filt.check(states, goal, seed=seed * 100_003 + k)
        out.deviations.append(checked.deviation)
        if not checked.kept:
            out.infeasible += 1
            continue
        executed = checked.rollout[OBS_PREFIX + "observation"]
        if require_success and np.linalg.norm(executed[-1, :2] - goal) > 0.5:
            out.unsuccessful += 1
            continue
        if require_coins and not took_all_coins(checked.rollout):
            out.coinless += 1
            continue
        if pace is not None and not _keep_pace(out, pace, checked.rollout, goal, reference):
            continue
        out.items.append(checked.rollout)
        out.rewards.append(reward(executed))
    return out


def took_all_coins(rollout: dict[str, np.ndarray]) -> bool:
    """Whether an executed rollout ended with every coin of its maze taken (its last
    ``obs/coins_collected`` row all set); True on a maze without coins (nothing to take)."""
    taken = rollout.get(OBS_PREFIX + "coins_collected")
    if taken is None or np.size(taken) == 0:
        return True
    return bool(np.all(np.asarray(taken)[-1] > 0))


def _keep_pace(out: MazeGenerated, pace: ReferencePace, rollout: dict[str, np.ndarray], goal: np.ndarray,
               reference: int | None) -> bool:
    """Record the rollout's arrival against the reference's; whether the rollout is kept."""
    key = OBS_PREFIX + "achieved_goal"
    achieved = rollout[key] if key in rollout else rollout[OBS_PREFIX + "observation"][:, :2]
    steps = arrival_step(achieved, goal)
    out.arrivals.append((steps, reference))
    if pace.beats(steps, reference):
        return True
    out.slower += 1
    return False


def drive_steps(planner: Any, env: Any, deadline: int) -> int:
    """Step cap of a closed-loop generation episode: twice the goal's deadline plus rest, or,
    when the planner routes its subgoals through a reward's points (``--act reward=task``: the
    coins), the env's time limit: the tour is many times the goal's deadline (a Medium coin
    tour ~24 cells, ~480 steps; the goal's deadline ~50-100), so the shorter cap would cut every
    routed episode off before the goal and keep none."""
    from adiff_env.planners.route import time_limit

    cap = 2 * deadline + 2 * REST_STEPS
    act = getattr(planner, "act", None)
    routed = getattr(planner, "reward_source", None) is not None and getattr(act, "route", "") == "reward"
    limit = time_limit(env) if routed else None
    return max(cap, limit) if limit is not None else cap


def _ranked_and_guided(planner: Any, reward: Any, guidance: GuidanceConfig) -> tuple[Any, Any]:
    """The candidate ranking and the sampling guide for ``reward`` on ``planner``'s plans."""
    a = planner.action_dim

    def rank(x: torch.Tensor) -> torch.Tensor:
        states = planner.normalizer.unnormalize(x)[..., a:]
        if has_torch(reward):
            return reward.torch_reward(states)
        return torch.tensor([reward(p) for p in states.cpu().numpy()])

    guide = planner_guide(reward, planner.normalizer, a) if has_torch(reward) and guidance.scale != 0 else None
    return rank, guide


def _drive(planner: Any, env: Any, obs: dict, plan_fn: Any, max_steps: int) -> dict[str, np.ndarray]:
    """Let ``planner`` act (receding horizon, plans from ``plan_fn``) from ``obs`` until it has
    rested ``REST_STEPS`` steps within 0.5 of the goal or ``max_steps``; the executed rollout."""
    planner.reset()
    planner.plan = plan_fn  # this planner instance plans with guidance from now on
    observations = {k: [np.asarray(v)] for k, v in obs.items()}
    actions, rewards, resting = [], [], 0
    for _ in range(max_steps):
        action, _ = planner.predict(obs)
        obs, r, terminated, truncated, _ = env.step(action)
        actions.append(np.asarray(action, dtype=np.float32))
        rewards.append(float(r))
        for k, v in obs.items():
            observations[k].append(np.asarray(v))
        resting = resting + 1 if np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) <= 0.5 else 0
        if resting >= REST_STEPS or terminated or truncated:
            break
    rollout = {OBS_PREFIX + k: np.stack(v) for k, v in observations.items()}
    rollout.update(actions=np.stack(actions), rewards=np.asarray(rewards))
    return rollout
