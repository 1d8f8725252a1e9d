"""Batched closed-loop rollouts of an agent on Fetch, hindsight relabelling and goal curricula.

The pieces :class:`~adiff_env.manipulation.evolve.FetchEvolveDomain` is built from; none of
them imports torch.

* :func:`run_batch`: ``N`` envs (one per reset seed) stepped in lockstep, one
  ``agent.predict`` call per step for all of them (a :class:`~adiff_env.planners.trajectory.TrajectoryPlanner`
  plans every env due a new plan in one sampler call, so ``N`` episodes cost about one
  denoiser pass per sampler step instead of ``N``). Each episode comes back as a
  :class:`Rollout`: the buffer's rollout dict (``actions [T, A]``, ``rewards [T]``,
  ``obs/<key> [T + 1, ...]``), final-step success (Fetch's protocol: ``info["is_success"]``
  at the last step), success at any step and the return. Envs whose episodes end early
  (terminated) are left out of later steps.
* :func:`relabel`: hindsight relabelling (HER's "final" strategy): the block position the
  episode actually ended at becomes its goal; ``obs/desired_goal`` and the rewards are
  rewritten with the env's own ``compute_reward`` (so a zone cost stays exact on
  ``FetchPush-Avoid``). Self-generated data, not expert data.
* :func:`curriculum_goal`: an air goal with its height above the table compressed from
  ``(0.05, 0.45]`` into ``(0.05, cap]`` (the first rounds' goals are low enough for the
  current planner to reach some of them).
* :func:`goal_in_region`: whether a goal lies in an env's goal region (``"air"``: height
  offset in ``(0.05, 0.45]``; ``"table"``: on the table), the test a relabelled goal must
  pass to count as data for the target task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adiff_env.manipulation.env import AIR_OFFSET_HIGH, AIR_OFFSET_LOW

OBS_PREFIX = "obs/"
TABLE_TOLERANCE = 0.01
"""A goal counts as "on the table" within this height (m) of the block's resting height."""


@dataclass
class Rollout:
    """One executed episode. ``item``: the buffer's rollout dict; ``success``: final-step
    success; ``ever``: success at any step; ``ret``: the return; ``seed``: its reset seed;
    ``relabelled``: whether :func:`relabel` rewrote its goal."""

    item: dict[str, np.ndarray]
    success: bool
    ever: bool
    ret: float
    seed: int
    relabelled: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final_block(self) -> np.ndarray:
        """The block position ``[3]`` at the last step (``achieved_goal``)."""
        return np.asarray(self.item[OBS_PREFIX + "achieved_goal"][-1], dtype=np.float64)


def _stack_obs(obs_list: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(o[k]) for o in obs_list]) for k in obs_list[0]}


def run_batch(make_env: Callable[[], Any], agent: Any, seeds: Sequence[int],
              goals: Sequence[np.ndarray | None] | None = None, *, batch_size: int = 64,
              progress: bool = False, desc: str = "rollouts") -> list[Rollout]:
    """Roll ``agent`` out for one episode per reset seed, ``batch_size`` envs at a time.

    Args:
        make_env: builds one env (e.g. ``lambda: gym.make(env_id, **env_kwargs)``).
        agent: SB3-style ``predict(obs, state, episode_start, deterministic)``; batched agents
            (``batch_predict = True``) get the ``[n, ...]`` observations of all live envs at
            once, others one observation at a time.
        seeds: reset seeds, one episode each (``len(seeds)`` episodes).
        goals: optional pinned goal ``[3]`` per episode (``reset(options={"goal": g})``);
            ``None`` entries keep the env's own goal.
        batch_size: envs stepped together (memory and sampler batch size).

    Returns one :class:`Rollout` per seed, in the order of ``seeds``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if goals is not None and len(goals) != len(seeds):
        raise ValueError(f"goals and seeds differ in length: {len(goals)} vs {len(seeds)}.")
    from tqdm.auto import tqdm

    out: list[Rollout] = []
    bar = tqdm(total=len(seeds), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    envs: list[Any] = []
    try:
        for start in range(0, len(seeds), batch_size):
            chunk = list(seeds[start:start + batch_size])
            while len(envs) < len(chunk):
                envs.append(make_env())
            chunk_goals = list(goals[start:start + batch_size]) if goals is not None else [None] * len(chunk)
            out += _run_chunk(envs[:len(chunk)], agent, chunk, chunk_goals)
            bar.update(len(chunk))
    finally:
        bar.close()
        for env in envs:
            env.close()
    return out


def _run_chunk(envs: list[Any], agent: Any, seeds: list[int], goals: list[np.ndarray | None]) -> list[Rollout]:
    n = len(envs)
    obs_hist: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]
    actions: list[list[np.ndarray]] = [[] for _ in range(n)]
    rewards: list[list[float]] = [[] for _ in range(n)]
    success, ever = [False] * n, [False] * n
    current: list[dict[str, np.ndarray]] = []
    for i, (env, seed, goal) in enumerate(zip(envs, seeds, goals, strict=True)):
        obs, _ = env.reset(seed=int(seed), options={"goal": goal} if goal is not None else None)
        obs_hist[i].append(obs)
        current.append(obs)
    live = list(range(n))
    batched = bool(getattr(agent, "batch_predict", False)) and n > 1
    first = True
    while live:
        if batched:
            batch = _stack_obs([current[i] for i in live])
            acts, _ = agent.predict(batch, state=None, episode_start=np.full(len(live), first), deterministic=True)
            acts = np.asarray(acts).reshape(len(live), -1)
        else:
            if len(live) > 1 and not first:
                raise ValueError("an agent without batch_predict acts on one env at a time; use batch_size=1.")
            acts = np.stack([np.asarray(agent.predict(current[i], state=None, episode_start=first,
                                                      deterministic=True)[0]).reshape(-1) for i in live])
        first = False
        still = []
        for i, action in zip(live, acts, strict=True):
            obs, reward, terminated, truncated, info = envs[i].step(action)
            obs_hist[i].append(obs)
            actions[i].append(np.asarray(action, dtype=np.float32))
            rewards[i].append(float(reward))
            now = bool(info.get("is_success", False))
            success[i], ever[i] = now, ever[i] or now
            current[i] = obs
            if not (terminated or truncated):
                still.append(i)
        live = still
    rollouts = []
    for i in range(n):
        item = {OBS_PREFIX + k: v for k, v in _stack_obs(obs_hist[i]).items()}
        item["actions"] = np.stack(actions[i]).astype(np.float32)
        item["rewards"] = np.asarray(rewards[i], dtype=np.float64)
        rollouts.append(Rollout(item=item, success=success[i], ever=ever[i], ret=float(np.sum(rewards[i])),
                                seed=int(seeds[i])))
    return rollouts


def relabel(rollout: Rollout, env: Any, goal: np.ndarray | None = None) -> Rollout:
    """A copy of ``rollout`` whose goal is ``goal`` (default: the block's final position).

    ``obs/desired_goal`` becomes ``goal`` at every step and reward ``k`` becomes
    ``env.unwrapped.compute_reward(achieved_goal[k + 1], goal, {})`` (Fetch: ``-1`` until the
    block is within 0.05 m of the goal, ``0`` there; a zone cost on ``FetchPush-Avoid``);
    ``success`` is re-read from the last step. ``env`` only supplies ``compute_reward``.
    """
    g = rollout.final_block if goal is None else np.asarray(goal, dtype=np.float64).reshape(3)
    item = dict(rollout.item)
    achieved = np.asarray(item[OBS_PREFIX + "achieved_goal"], dtype=np.float64)
    item[OBS_PREFIX + "desired_goal"] = np.broadcast_to(g, achieved.shape).astype(item[OBS_PREFIX + "desired_goal"].dtype)
    unwrapped = getattr(env, "unwrapped", env)
    rewards = np.asarray(unwrapped.compute_reward(achieved[1:], np.broadcast_to(g, achieved[1:].shape), {}),
                         dtype=np.float64).reshape(-1)
    item["rewards"] = rewards
    dist = np.linalg.norm(achieved[1:] - g, axis=-1)
    threshold = float(getattr(unwrapped, "distance_threshold", 0.05))
    return Rollout(item=item, success=bool(dist[-1] < threshold), ever=bool(np.any(dist < threshold)),
                   ret=float(rewards.sum()), seed=rollout.seed, relabelled=True, extras=dict(rollout.extras))


def table_height(env: Any) -> float:
    """The block's resting height (m): Fetch's ``height_offset``."""
    unwrapped = getattr(env, "unwrapped", env)
    if not hasattr(unwrapped, "height_offset"):
        raise TypeError(f"{type(unwrapped).__name__} has no height_offset; expected a Fetch env with a block.")
    return float(unwrapped.height_offset)


def goal_in_region(env: Any, goal: np.ndarray) -> bool:
    """Whether ``goal`` lies in ``env``'s goal region: ``"air"``: height above the table in
    ``(0.05, 0.45]``; ``"table"``: within 0.01 m of the table height; ``"both"`` or an env
    without ``goal_region`` (push): always."""
    region = getattr(getattr(env, "unwrapped", env), "goal_region", "both")
    offset = float(np.asarray(goal).reshape(-1)[2]) - table_height(env)
    if region == "air":
        return AIR_OFFSET_LOW < offset <= AIR_OFFSET_HIGH
    if region == "table":
        return abs(offset) <= TABLE_TOLERANCE
    return True


def curriculum_goal(goal: np.ndarray, table_z: float, cap: float) -> np.ndarray:
    """``goal`` with its height above the table mapped linearly from ``(0.05, 0.45]`` onto
    ``(0.05, cap]`` (x, y unchanged); ``cap >= 0.45`` returns the goal unchanged.

    ``z' = table + 0.05 + (z - table - 0.05) * (cap - 0.05) / 0.4``."""
    if not AIR_OFFSET_LOW < cap:
        raise ValueError(f"a height cap must be > {AIR_OFFSET_LOW} m, got {cap}.")
    g = np.asarray(goal, dtype=np.float64).reshape(3).copy()
    if cap >= AIR_OFFSET_HIGH:
        return g
    offset = g[2] - table_z
    if offset > AIR_OFFSET_LOW:
        g[2] = table_z + AIR_OFFSET_LOW + (offset - AIR_OFFSET_LOW) * (cap - AIR_OFFSET_LOW) / (AIR_OFFSET_HIGH - AIR_OFFSET_LOW)
    return g


def block_at_rest(rollout: Rollout, steps: int = 3, tolerance: float = 0.01) -> bool:
    """Whether the block moved less than ``tolerance`` m over the last ``steps`` steps (it is
    held or lying still, not falling), so its final position is a goal one can stay at."""
    achieved = np.asarray(rollout.item[OBS_PREFIX + "achieved_goal"], dtype=np.float64)
    if len(achieved) <= steps:
        return False
    return bool(np.linalg.norm(achieved[-1] - achieved[-1 - steps]) < tolerance)


def block_path_features(item: Any) -> np.ndarray:
    """Diversity features of a Fetch rollout: the block's path (``achieved_goal``) linearly
    resampled to 16 points ``[16, 3]`` (the buffer's default looks at the first two state
    columns, the gripper's x, y, which says little about what happened to the block)."""
    path = np.asarray(item[OBS_PREFIX + "achieved_goal"], dtype=np.float64)
    t = np.linspace(0.0, len(path) - 1, 16)
    return np.stack([np.interp(t, np.arange(len(path)), path[:, d]) for d in range(path.shape[1])], axis=1)


def path_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    """Mean Euclidean distance (m) between two resampled block paths."""
    return float(np.linalg.norm(np.asarray(fa) - np.asarray(fb), axis=-1).mean())


HINDSIGHT_GOALS = ("final", "peak")
HELD_DISTANCE = 0.03
"""The block counts as held while it is within this distance (m) of the grip site (``observation[6:9]``)."""


def held_peak(rollout: Rollout, env: Any) -> np.ndarray | None:
    """The highest block position ``[3]`` among the steps where the block is held (within
    0.03 m of the grip site) at a position in ``env``'s goal region; None if there is none."""
    obs = np.asarray(rollout.item[OBS_PREFIX + "observation"], dtype=np.float64)
    held = np.linalg.norm(obs[:, 6:9], axis=1) < HELD_DISTANCE
    ok = [k for k in np.flatnonzero(held) if goal_in_region(env, obs[k, 3:6])]
    if not ok:
        return None
    return obs[max(ok, key=lambda k: obs[k, 5]), 3:6].copy()


def keep_rollouts(rollouts: Sequence[Rollout], env: Any, hindsight: bool = True,
                  goal: str = "final") -> tuple[list[Rollout], dict[str, int]]:
    """The filter of self-evolution on executed episodes (consistent by construction): keep an
    episode that succeeds at its last step; with ``hindsight`` also a failed one relabelled
    (:func:`relabel`) to a goal it reached: ``goal="final"``: the block's final position, if
    the block ended at rest (:func:`block_at_rest`) in ``env``'s goal region
    (:func:`goal_in_region`); ``"peak"``: the highest position at which it was held in the
    goal region (:func:`held_peak`; the planner's training windows take their goals from any
    step, so a block lifted to a new height teaches that height even if it came down again).
    Returns the kept rollouts and the counts ``succeeded`` / ``relabelled`` / ``dropped``."""
    if goal not in HINDSIGHT_GOALS:
        from adiff_env.errors import UnknownNameError

        raise UnknownNameError("hindsight goal", goal, HINDSIGHT_GOALS)
    kept, counts = [], {"succeeded": 0, "relabelled": 0, "dropped": 0}
    for r in rollouts:
        target = None
        if r.success:
            kept.append(r)
            counts["succeeded"] += 1
            continue
        if hindsight and goal == "final" and block_at_rest(r) and goal_in_region(env, r.final_block):
            target = r.final_block
        elif hindsight and goal == "peak":
            target = held_peak(r, env)
        if target is None:
            counts["dropped"] += 1
        else:
            kept.append(relabel(r, env, target))
            counts["relabelled"] += 1
    return kept, counts


class LiftExploration:
    """Exploration noise for self-generated data: wraps an agent and adds ``b + N(0, std^2)`` (``b ~
    N(0, bias_std^2)`` drawn once per episode: a drift that carries a held block to new
    heights) to the gripper's ``x, y, z`` command (not the fingers) on the env steps ``t < steps`` of each
    episode where the block is off the table (``observation[5]`` more than ``min_lift`` m above
    ``table_z``), clipped to ``[-1, 1]``. The last ``50 - steps`` steps are the agent's alone, so
    the block settles before :func:`relabel` takes its final position. Batched like the agent."""

    def __init__(self, agent: Any, std: float, steps: int, table_z: float, seed: int, min_lift: float = 0.02,
                 bias_std: float = 0.0) -> None:
        if std < 0 or steps < 0 or bias_std < 0:
            raise ValueError(f"std, steps and bias_std must be >= 0, got {std}, {steps}, {bias_std}.")
        self.agent, self.std, self.steps, self.table_z, self.min_lift = agent, float(std), int(steps), table_z, min_lift
        self.bias_std = float(bias_std)
        self.bias: np.ndarray | None = None
        self.rng = np.random.default_rng(seed)
        self.batch_predict = bool(getattr(agent, "batch_predict", False))
        self.t = 0

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        action, state = self.agent.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)
        action = np.array(action, dtype=np.float32, copy=True)
        if episode_start is not None and bool(np.all(episode_start)) or self.bias is None or self.bias.shape != action.shape:
            self.t = 0
            self.bias = self.rng.normal(0.0, self.bias_std, size=action.shape).astype(np.float32)
        if (self.std > 0 or self.bias_std > 0) and self.t < self.steps:
            obs = np.asarray(observation["observation"], dtype=np.float64)
            lifted = (obs[..., 5] - self.table_z > self.min_lift)[..., None]
            noise = self.bias + self.rng.normal(0.0, self.std, size=action.shape).astype(np.float32)
            noise[..., 3] = 0.0
            action = np.clip(action + noise * lifted, -1.0, 1.0)
        self.t += 1
        return action, state
