"""Scripted experts for Fetch push and pick-and-place (no learning, no memory).

Both read the GoalEnv dict of a Fetch env: ``grip = observation[0:3]``, ``block =
observation[3:6]``, the two finger openings ``observation[9:11]`` and ``goal = desired_goal``.
They steer the gripper to a target point with a clipped P-controller,
``a_xyz = clip(gain * (target - grip), -1, 1)`` (Fetch moves the gripper by ``0.05 * a`` m per
step), and decide what to do from the observation alone, so they hold no per-episode state and
recover by themselves when noise knocks the block away.

:class:`PickPlaceExpert` (``FetchPickAndPlace``): approach (fly to ``hover`` m above the block,
gripper open), descend (when aligned within ``align`` m), grasp (close when the grip site is at
the block), lift and carry (to ``carry_height`` above the table, then over the goal), place
(lower to the goal; the block stays in the hand, so air goals are held). Held = the block within
0.02 m of the grip site and the fingers closed on it (summed opening in ``(0.03, 0.07)``; 0.1
open, 0.048 on the 5 cm block, ~0 on nothing).

:class:`PushExpert` (``FetchPush`` and ``FetchPush-Avoid``; the gripper is blocked closed): push
from behind the block along the block-to-goal direction ``u``. Out of position it first rises to
``hover`` above the block when close to it (so it never sweeps through the block), flies to the
point ``behind`` m behind the block on the line to the goal, and descends there; in position
(behind the block, within ``lateral`` m of the line, at block height) it moves along ``u`` at a
speed proportional to the block's remaining distance, correcting sideways drift, and stops once
the block is within ``stop`` m of the goal. It ignores a forbidden zone (it is the straight-line
expert; a planner has to learn to go round it).

Noise (``noise_std``): ``a = clip(expert(s) + N(0, noise_std^2 I), -1, 1)`` on all four action
dims, from the expert's own ``np.random.Generator`` (``seed``). Both follow SB3's ``predict``
signature and accept one observation or a batch (a leading env axis; ``batch_predict = True``).
Measured success: ``benchmarks/bench_fetch_expert.py`` (figures in its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_GRIP, _BLOCK, _FINGERS = slice(0, 3), slice(3, 6), slice(9, 11)


@dataclass(frozen=True)
class PushConfig:
    """Gains and distances (m) of :class:`PushExpert`; defaults measured in the benchmark."""

    gain: float = 10.0
    behind: float = 0.06
    hover: float = 0.06
    lateral: float = 0.012
    lateral_gain: float = 10.0
    stop: float = 0.012
    min_speed: float = 0.15


@dataclass(frozen=True)
class PickPlaceConfig:
    """Gains and distances (m) of :class:`PickPlaceExpert`; defaults measured in the benchmark."""

    gain: float = 10.0
    hover: float = 0.05
    align: float = 0.01
    grasp: float = 0.01
    carry_height: float = 0.08
    carry_align: float = 0.02


class _ScriptedExpert:
    """Shared predict / noise / batching of the Fetch experts."""

    batch_predict = True

    def __init__(self, noise_std: float = 0.0, seed: int | None = None) -> None:
        if not (isinstance(noise_std, (int, float)) and np.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}.")
        self.noise_std = float(noise_std)
        self.rng = np.random.default_rng(seed)

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """Action ``[4]`` (float32) for one observation dict, ``[n, 4]`` for a batch of ``n``."""
        if not isinstance(observation, dict) or "observation" not in observation or "desired_goal" not in observation:
            raise TypeError("The Fetch expert expects the GoalEnv observation dict (keys 'observation', 'desired_goal').")
        obs = np.asarray(observation["observation"], dtype=np.float64)
        goal = np.asarray(observation["desired_goal"], dtype=np.float64)
        if obs.shape[-1] != 25 or goal.shape[-1] != 3:
            raise ValueError(f"expected a Fetch observation [..., 25] and goal [..., 3], got {obs.shape} and {goal.shape}.")
        batched = obs.ndim == 2
        obs2, goal2 = obs.reshape(-1, 25), goal.reshape(-1, 3)
        actions = np.stack([self._act(o, g) for o, g in zip(obs2, goal2, strict=True)])
        if self.noise_std > 0:
            actions = actions + self.rng.normal(0.0, self.noise_std, size=actions.shape)
        actions = np.clip(actions, -1.0, 1.0).astype(np.float32)
        return (actions if batched else actions[0]), state

    def _act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _move(self, grip: np.ndarray, target: np.ndarray, gain: float) -> np.ndarray:
        return np.clip(gain * (target - grip), -1.0, 1.0)


class PushExpert(_ScriptedExpert):
    """Push from behind along the block-to-goal line (module doc)."""

    def __init__(self, config: PushConfig | None = None, noise_std: float = 0.0, seed: int | None = None) -> None:
        super().__init__(noise_std, seed)
        self.config = config or PushConfig()

    def _act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        c = self.config
        grip, block = obs[_GRIP], obs[_BLOCK]
        to_goal = goal[:2] - block[:2]
        dist = float(np.linalg.norm(to_goal))
        if dist < c.stop:
            return np.zeros(4)
        u = to_goal / dist
        rel = grip[:2] - block[:2]
        along = float(rel @ u)
        side = rel - along * u  # sideways offset of the gripper from the push line
        low = abs(grip[2] - block[2]) < 0.015
        if low and -c.behind - 0.02 < along < -0.02 and np.linalg.norm(side) < c.lateral:
            speed = max(c.min_speed, min(1.0, c.gain * dist))
            xy = speed * u - c.lateral_gain * side
            z = c.gain * (block[2] - grip[2])
            return np.r_[np.clip(xy, -1, 1), np.clip(z, -1, 1), 0.0]
        behind = block[:2] - c.behind * u
        high = block[2] + c.hover
        near_xy = float(np.linalg.norm(grip[:2] - behind))
        if near_xy > 0.01:
            if np.linalg.norm(rel) < c.behind + 0.03 and grip[2] < high - 0.02:
                target = np.r_[grip[:2], high]  # rise before moving sideways near the block
            else:
                target = np.r_[behind, high]
        else:
            target = np.r_[behind, block[2]]
        return np.r_[self._move(grip, target, c.gain), 0.0]


class PickPlaceExpert(_ScriptedExpert):
    """Approach, descend, grasp, lift, carry, place (module doc)."""

    def __init__(self, config: PickPlaceConfig | None = None, noise_std: float = 0.0, seed: int | None = None,
                 table_height: float | None = None) -> None:
        super().__init__(noise_std, seed)
        self.config = config or PickPlaceConfig()
        self.table_height = table_height

    def _act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        c = self.config
        grip, block = obs[_GRIP], obs[_BLOCK]
        opening = float(np.sum(obs[_FINGERS]))
        offset = block - grip
        held = np.linalg.norm(offset) < 0.02 and 0.03 < opening < 0.07
        if held:
            rest = block[2] if self.table_height is None else self.table_height
            carry_z = max(goal[2], min(rest, block[2]) + c.carry_height)
            far = np.linalg.norm(goal[:2] - block[:2]) > c.carry_align
            block_target = np.r_[goal[:2], carry_z] if far else goal  # lift and carry, then place
            return np.r_[self._move(block, block_target, c.gain), -1.0]
        xy_err = float(np.linalg.norm(offset[:2]))
        if xy_err < c.align and abs(offset[2]) < c.grasp:
            return np.r_[np.zeros(3), -1.0]  # at the block: close
        if xy_err < c.align:
            return np.r_[self._move(grip, block, c.gain), 1.0]  # descend, open
        target = np.r_[block[:2], block[2] + c.hover]
        if grip[2] < block[2] + c.hover - 0.02 and xy_err < 0.04:
            target = np.r_[grip[:2], block[2] + c.hover]  # too low beside the block: rise first
        return np.r_[self._move(grip, target, c.gain), 1.0]


def make_fetch_expert(env: Any, noise_std: float = 0.0, seed: int | None = None) -> _ScriptedExpert:
    """The scripted expert for a Fetch env: :class:`PickPlaceExpert` when the gripper moves,
    :class:`PushExpert` when it is blocked (push tasks)."""
    unwrapped = getattr(env, "unwrapped", env)
    if not hasattr(unwrapped, "block_gripper") or not getattr(unwrapped, "has_object", False):
        raise TypeError(
            f"make_fetch_expert needs a Fetch env with a block (adiff/FetchPush-v0, adiff/FetchPickAndPlace-v0, "
            f"adiff/FetchPush-Avoid-v0), got {type(unwrapped).__name__}."
        )
    if unwrapped.block_gripper:
        return PushExpert(noise_std=noise_std, seed=seed)
    return PickPlaceExpert(noise_std=noise_std, seed=seed, table_height=float(unwrapped.height_offset))
