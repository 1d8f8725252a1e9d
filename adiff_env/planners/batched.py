"""Batched acting for :class:`~adiff_env.planners.trajectory.TrajectoryPlanner`: one
:class:`~adiff_env.planners.parts.PlanState` per env of a vector env, and one sampler call of
``N' x n_samples`` trajectories (each with its own inpainting) for the ``N'`` envs due a new
plan, so vectorized evaluation costs one denoiser pass per sampler step instead of ``N``.

With reward guidance each env is guided and ranked by its own reward, rebuilt from that env's
state at its replans (the handles come from ``TrajectoryPlanner.bind_envs``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from adiff_env.diffusion import Inpainting, sample
from adiff_env.errors import ConfigError
from adiff_env.planners.parts import PlanState, global_condition
from adiff_env.planners.ranking import candidate_rank


def act_on_batch(planner: Any, observation: dict[str, Any], episode_start: Any = None) -> np.ndarray:
    """Actions ``[N, A]`` for a batch of envs (``observation[k]`` of shape ``[N, ...]``);
    ``episode_start`` (scalar or ``[N]``) resets those envs' plans. Envs due a new plan share
    one :func:`plan_batch` call."""
    s = np.asarray(observation["observation"], dtype=np.float64)
    goals = np.asarray(observation["desired_goal"], dtype=np.float64)
    n = len(s)
    starts = np.broadcast_to(np.asarray(False if episode_start is None else episode_start, dtype=bool).reshape(-1), (n,))
    if len(planner.states) != n:
        planner.states = [PlanState() for _ in range(n)]
    for i in np.flatnonzero(starts):
        planner.states[i] = PlanState()
    if planner.reward_source is not None:
        if len(planner.reward_sources) != n:
            raise ConfigError(f"reward guidance (act.reward={planner.act.reward!r}) over a batch of {n} envs needs "
                              f"each env's own state: call bind_envs() with {n} env handles first "
                              f"({len(planner.reward_sources)} bound); `adiff bench` and evaluate_vector do.")
        from adiff_env.planners.route import refresh_reward

        for i, st in enumerate(planner.states):
            refresh_reward(planner, st, s[i], planner.reward_sources[i], goal=goals[i])
    env_goals, goals = goals, np.stack([planner._plan_goal(st, s[i], goals[i]) for i, st in enumerate(planner.states)])
    need = [i for i, st in enumerate(planner.states) if planner._needs_plan(st, s[i], goals[i])]
    if need:
        rewards = [planner.states[i].reward for i in need] if planner.reward_source is not None else None
        steps_left = [planner.states[i].deadline_t - planner.states[i].t for i in need]
        plans = plan_batch(planner, s[need], goals[need], steps_left, rewards=rewards)
        for plan, i in zip(plans, need):
            planner.states[i].plan, planner.states[i].plan_t = plan, planner.states[i].t
    actions = []
    for i, st in enumerate(planner.states):
        actions.append(planner._held(s[i], env_goals[i], planner.action_from_plan(s[i], st.plan, st.t - st.plan_t)))
        st.t += 1
    return np.stack(actions)


def plan_batch(planner: Any, s: np.ndarray, goals: np.ndarray, steps_left: list[int],
               rewards: list[Any] | None = None) -> np.ndarray:
    """Plans ``[N, H, A + O]`` (unnormalized) for ``N`` envs in one sampler call.

    ``s [N, O]``, ``goals [N, G]``, ``steps_left`` per env. The call draws ``N x n_samples``
    trajectories, each env's ``n_samples`` with that env's inpainting; the best by the
    smoothness ranking is kept per env (first in draw order on ties, like the planner's ``plan``).
    With ``N = 1`` it returns exactly ``planner.plan``'s plan for the same generator state.
    With reward guidance, ``rewards [N]`` are the envs' rewards (built on each env's state;
    :func:`~adiff_env.planners.guided.batched_guided_kwargs` guides and ranks each env's
    candidates by its own)."""
    if planner.reward_source is not None and (rewards is None or len(rewards) != len(s)):
        raise ConfigError(f"reward guidance (act.reward={planner.act.reward!r}) over {len(s)} envs needs one reward "
                          f"per env (rewards=[...], got {None if rewards is None else len(rewards)}): each is "
                          "rebuilt from its env's state (bind_envs).")
    tic = time.perf_counter()
    n, k = len(s), planner.act.n_samples
    conds = [planner.conditioner(s[i], goals[i], steps_left[i]) for i in range(n)]
    cond = Inpainting(torch.stack([c.mask for c in conds]).repeat_interleave(k, 0),
                      torch.stack([c.values for c in conds]).repeat_interleave(k, 0))
    shape = (n * k, planner.horizon, planner.action_dim + planner.obs_dim)
    vector = None
    if planner.global_cond:
        a, cols = planner.action_dim, planner._goal_cols
        js = [int(np.clip(j, 1, planner.horizon - 1)) for j in steps_left]
        vector = global_condition(
            torch.stack([c.values[0, a:] for c in conds]), torch.stack([c.values[j, cols] for c, j in zip(conds, js)]),
            torch.tensor(js), planner.horizon,
        ).repeat_interleave(k, 0)
    if rewards is not None:
        from adiff_env.planners.guided import batched_guided_kwargs

        kwargs = batched_guided_kwargs(planner, rewards)
    else:
        kwargs = {"reward_fn": candidate_rank(planner, goals) if k > 1 else None}
    out = sample(planner.denoiser, planner.scheduler, shape, device=planner.device, generator=planner.generator,
                 conditioner=cond, cond=vector, **kwargs)
    x = out.samples.view(n, k, *shape[1:])
    best = out.rewards.view(n, k).argmax(1) if out.rewards is not None else torch.zeros(n, dtype=torch.long)
    plans = planner.normalizer.unnormalize(x[torch.arange(n), best.to(x.device)].cpu().numpy().astype(np.float64))
    planner.plan_times.append(time.perf_counter() - tic)
    planner.plans_made += n
    return plans
