"""The maze's discriminator for self-evolution (AdaptDiffuser): keep a plan only if the real
PointMaze dynamics can follow it.

For a plan of states ``s_0 .. s_{T-1}`` (``[T, O]``, PointMaze ``[x, y, vx, vy]``):

1. put the real env in the plan's start state ``s_0`` (and goal) — :func:`reset_to`;
2. for ``t = 0 .. T-2``: ``a_t = actor(executed s_t, plan, t)`` — by default the planner's PD
   rule on the waypoint ``lookahead`` steps ahead, ``a = clip(kp (p_{t+k} - p_t) + kd (v_{t+k}
   - v_t), -1, 1)`` (:class:`PDTracker`), or any callable such as a learned inverse dynamics;
3. ``deviation = max_t ||p^exec_t - p^plan_t||`` over positions; keep iff ``deviation <= epsilon``.

Kept trajectories are the EXECUTED ones (``obs/<key>``, ``actions``, ``rewards`` of the real
env), so the buffer holds only dynamically feasible data.

Epsilon. ``DEFAULT_EPSILON = 0.5`` maze units (half a cell), from measurement
(``benchmarks/measure_filter_epsilon.py``): feasible plans replayed through this PD tracker —
on Medium, 200 horizon-128 windows of a 20k-step noisy-expert dataset (D4RL recipe, noise
0.5) deviate by a max of 0.117 median, 0.168 at the 99th percentile, 0.183 at most; 20
noise-free D4RL-expert rollouts by 0.207 at most; all 11 straight plans through a wall (between
two free cells two apart) by 1.603 (the ball stops at the wall while the plan goes on; a wall is
a whole cell, 1.0 wide). 0.5 (half a cell) lies 2.4x above the worst feasible plan and 3.2x
below the wall crossings, leaving slack for diffusion plans that are a little less smooth.

:class:`LearnedDynamicsFilter` is the cheap variant: an MLP ``(s, a) -> s' - s`` fitted on the
dataset (:func:`adiff_env.evolve.dynamics.fit_dynamics`, domain-agnostic) replaces the
simulator, batched over plans. Its rollouts are model predictions, so use it to pre-screen
and run the real check on the survivors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adiff_env.evolve.buffer import OBS_PREFIX

if TYPE_CHECKING:
    from adiff_env.evolve.dynamics import DynamicsModel

DEFAULT_EPSILON = 0.5


@dataclass(frozen=True)
class FilterConfig:
    """``epsilon``: largest allowed position deviation (maze units); PD tracker gains."""

    epsilon: float = DEFAULT_EPSILON
    kp: float = 10.0
    kd: float = 1.0
    lookahead: int = 2

    def __post_init__(self) -> None:
        if not self.epsilon > 0 or self.lookahead < 1:
            raise ValueError(f"epsilon must be > 0 and lookahead >= 1, got {self.epsilon}, {self.lookahead}.")


class PDTracker:
    """``actor(s [O], plan [T, O], t) -> a [2]``: PD on the planned waypoint ``t + lookahead``."""

    def __init__(self, kp: float = 10.0, kd: float = 1.0, lookahead: int = 2) -> None:
        self.kp, self.kd, self.lookahead = kp, kd, lookahead

    def __call__(self, s: np.ndarray, plan: np.ndarray, t: int) -> np.ndarray:
        k = min(t + self.lookahead, len(plan) - 1)
        a = self.kp * (plan[k, :2] - s[:2]) + self.kd * (plan[k, 2:4] - s[2:4])
        return np.clip(a, -1.0, 1.0).astype(np.float32)


@dataclass
class FilterResult:
    """``kept``; ``deviation`` (max over steps); ``deviations [T]``; ``rollout`` (executed item)."""

    kept: bool
    deviation: float
    deviations: np.ndarray
    rollout: dict[str, np.ndarray]


def reset_to(env: Any, state: np.ndarray, goal: np.ndarray, seed: int | None = None) -> dict[str, np.ndarray]:
    """Reset ``env`` (an ``adiff/PointMaze-*`` env) with its goal at ``goal`` and the ball at
    ``state = [x, y, vx, vy]``; returns the observation dict of that exact state."""
    unwrapped = env.unwrapped
    goal = np.asarray(goal, dtype=np.float64)
    goal_cell = unwrapped.maze.cell_xy_to_rowcol(goal)
    env.reset(seed=seed, options={"goal_cell": tuple(int(v) for v in goal_cell)})
    unwrapped.goal = goal.copy()
    unwrapped.update_target_site_pos()
    state = np.asarray(state, dtype=np.float64)
    unwrapped.point_env.set_state(state[:2].copy(), state[2:4].copy())
    return unwrapped._get_obs(np.concatenate([unwrapped.point_env.data.qpos, unwrapped.point_env.data.qvel]))


class ConsistencyFilter:
    """The real-env discriminator (module doc). ``env``: an ``adiff/PointMaze-*`` env."""

    def __init__(self, env: Any, config: FilterConfig | None = None,
                 actor: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None) -> None:
        self.env = env
        self.config = config or FilterConfig()
        self.actor = actor or PDTracker(self.config.kp, self.config.kd, self.config.lookahead)

    def check(self, plan: np.ndarray, goal: np.ndarray, seed: int | None = None) -> FilterResult:
        """Execute ``plan`` (states ``[T, O]``) from its first state; see the module doc."""
        plan = np.asarray(plan, dtype=np.float64)
        if plan.ndim != 2 or plan.shape[1] < 4 or len(plan) < 2:
            raise ValueError(f"plan must be states [T >= 2, O >= 4] (x, y, vx, vy first), got {plan.shape}.")
        obs = reset_to(self.env, plan[0], goal, seed)
        observations = {k: [np.asarray(v)] for k, v in obs.items()}
        actions, rewards = [], []
        for t in range(len(plan) - 1):
            action = self.actor(obs["observation"], plan, t)
            obs, reward, _, _, _ = self.env.step(action)
            actions.append(np.asarray(action, dtype=np.float32))
            rewards.append(float(reward))
            for k, v in obs.items():
                observations[k].append(np.asarray(v))
        executed = np.stack(observations["observation"])[:, :2]
        deviations = np.linalg.norm(executed - plan[:, :2], axis=1)
        rollout = {OBS_PREFIX + k: np.stack(v) for k, v in observations.items()}
        rollout["actions"] = np.stack(actions)
        rollout["rewards"] = np.asarray(rewards)
        worst = float(deviations.max())
        return FilterResult(worst <= self.config.epsilon, worst, deviations, rollout)


class LearnedDynamicsFilter:
    """The discriminator with a :class:`~adiff_env.evolve.dynamics.DynamicsModel` (fitted by
    :func:`~adiff_env.evolve.dynamics.fit_dynamics`) instead of the simulator, batched."""

    def __init__(self, model: DynamicsModel, config: FilterConfig | None = None) -> None:
        self.model = model.eval()
        self.config = config or FilterConfig()

    def check_batch(self, plans: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``plans [B, T, O]`` -> ``(kept [B] bool, deviation [B], predicted states [B, T, O])``."""
        import torch

        cfg = self.config
        with torch.no_grad():
            plan = torch.as_tensor(np.asarray(plans), dtype=torch.float32)
            b, t_len, _ = plan.shape
            s = plan[:, 0]
            states = [s]
            for t in range(t_len - 1):
                k = min(t + cfg.lookahead, t_len - 1)
                a = (cfg.kp * (plan[:, k, :2] - s[:, :2]) + cfg.kd * (plan[:, k, 2:4] - s[:, 2:4])).clamp(-1, 1)
                s = self.model(s, a)
                states.append(s)
            pred = torch.stack(states, dim=1)
            dev = (pred[..., :2] - plan[..., :2]).norm(dim=-1).max(dim=1).values.numpy()
        return dev <= cfg.epsilon, dev, pred.numpy()
