"""Goal-directed exploration for self-generated Fetch data: the goal reward's gradient, in action space.

AdaptDiffuser guides the *plans* with the reward's gradient; on Fetch that costs a backward
pass per denoising step and one env at a time (the guided planner does not act on a batch).
:class:`GoalPull` applies the same signal where it is cheap, to the executed gripper command:
for the dense goal reward ``r = -||block - goal||`` and a block held in the fingers (it moves
with the gripper), ``dr / d(gripper delta)`` points from the block to the goal, so the pull is

    pull = clip((goal - block) / STEP, -1, 1)     (STEP = 0.05 m: Fetch's action scale)
    a[:3] = (1 - w) * a_planner[:3] + w * pull    while the block is held, else a = a_planner

with ``w = weight`` in ``[0, 1]``; the finger command is always the planner's. Held (the
scripted expert's test, plus a lift): the block within ``held_distance`` (0.02 m) of the grip
site (``observation[6:9]``), the fingers closed on it (summed opening ``observation[9:11]`` in
``(0.03, 0.07)``: 0.1 open, 0.048 on the 5 cm block) and the block more than ``min_lift``
(0.01 m) above the table, so the pull never disturbs a grasp the planner has not finished
(a probe that pulled whenever the block was near the fingers: 0 of 32 air episodes, against 1
of 32 without the pull). The planner
still has to reach, grasp and hold the block itself; the pull only carries what it holds
towards the goal it was given, so a table-only planner's rollouts reach air heights it never
lifted to. Every episode is executed in MuJoCo (consistent by construction) and goes through the
same filter as unguided ones (:func:`~adiff_env.manipulation.rollouts.keep_rollouts`). No
expert data: the pull knows nothing of how to grasp. Evaluation never uses it.

Two further hand-written aids, also generation-only:

- ``relay`` (m): until the block is held, the planner is *shown* the goal with its height
  lowered to at most ``relay`` m above the table (``0``: the goal's projection on the table),
  the goals a table-only planner reaches and grasps for; once the block is held it sees the
  true goal. The env, and so every recorded episode, keeps the true goal: the buffer teaches
  the planner to reach and grasp *under* the air goal. Why: a table-only planner told to go
  to a goal 0.3-0.45 m up does not even approach the block (closest grip-block distance
  0.06-0.12 m on every such probe episode), so the pull never starts.
- ``grip``: while the block is held, the finger command is "close" (the planner's fingers
  opened at heights it never saw).

Probe (reset seeds 90000-90063, 64 air episodes at full height, generation success):
``fetch-pick-place-table@v2`` with the pull alone (w = 0.8) scored 44% on 32 episodes (s8);
with ``relay=0`` and ``grip`` 89% (85% of goals above 0.3 m); ``fetch-pick-place-air`` v2 with
the pull alone 36% (0% above 0.3 m), ``relay=0`` 56%, ``relay=0`` + ``grip`` 72%.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STEP = 0.05
"""Metres of gripper motion per unit of Fetch's action (gymnasium-robotics scales the delta by 0.05)."""


class GoalPull:
    """Wraps an agent (batched like it); see the module doc. ``weight``: ``w`` in ``[0, 1]``
    (0: no pull); ``table_z``: the block's resting height (m,
    :func:`~adiff_env.manipulation.rollouts.table_height`); ``held_distance``, ``min_lift``: the
    held test (m); ``grip``: close the fingers while held; ``relay``: the shown goal's height
    cap (m above the table) until the block is held (None: the true goal throughout)."""

    def __init__(self, agent: Any, weight: float, table_z: float, held_distance: float = 0.02,
                 min_lift: float = 0.01, grip: bool = False, relay: float | None = None) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"goal pull weight must be in [0, 1], got {weight}.")
        if not held_distance > 0 or min_lift < 0:
            raise ValueError(f"held_distance must be > 0 m and min_lift >= 0 m, got {held_distance}, {min_lift}.")
        if relay is not None and relay < 0:
            raise ValueError(f"relay must be >= 0 m or None, got {relay}.")
        self.agent, self.weight, self.table_z = agent, float(weight), float(table_z)
        self.held_distance, self.min_lift = float(held_distance), float(min_lift)
        self.grip, self.relay = bool(grip), None if relay is None else float(relay)
        self.batch_predict = bool(getattr(agent, "batch_predict", False))

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        obs = np.asarray(observation["observation"], dtype=np.float64)
        goal = np.asarray(observation["desired_goal"], dtype=np.float64)
        opening = obs[..., 9:11].sum(axis=-1)
        held = ((np.linalg.norm(obs[..., 6:9], axis=-1) < self.held_distance) & (opening > 0.03) & (opening < 0.07)
                & (obs[..., 5] - self.table_z > self.min_lift))[..., None]
        shown = observation
        if self.relay is not None:
            # until the block is held, the planner is shown the goal lowered to relay m above the
            # table (a goal like the ones it grasps for); the env, and so the recorded episode,
            # keeps the true goal
            low = goal.copy()
            low[..., 2] = np.minimum(goal[..., 2], self.table_z + self.relay)
            shown = {**observation, "desired_goal": np.where(held, goal, low)}
        action, state = self.agent.predict(shown, state=state, episode_start=episode_start, deterministic=deterministic)
        action = np.array(action, dtype=np.float32, copy=True)
        if self.weight == 0.0 and not self.grip:
            return action, state
        if self.weight > 0.0:
            pull = np.clip((goal - obs[..., 3:6]) / STEP, -1.0, 1.0).astype(np.float32)
            mixed = (1.0 - self.weight) * action[..., :3] + self.weight * pull
            action[..., :3] = np.where(held, mixed, action[..., :3])
        if self.grip:
            action[..., 3] = np.where(held[..., 0], -1.0, action[..., 3])
        return np.clip(action, -1.0, 1.0), state
