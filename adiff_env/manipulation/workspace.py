"""A planner normalizer that covers the Fetch task's workspace, not only its training data.

A min-max normalizer fitted on table-goal data maps the block's height range in that data
(table + at most ~0.08 m, the expert's carry height) onto ``[-1, 1]``; an air goal 0.45 m above
the table then reads ~10 normalized units, far outside anything the network saw, and a
planner told to go there does not even lift (docs/fetch-agents.md, "Adapting to air goals").
:func:`widen_normalizer` extends the normalizer's upper bound on the gripper's and the
block's height (state dims 2 and 5) to the top of the env's *known* goal region (Fetch's
``height_offset + AIR_OFFSET_HIGH``, + ``margin``): a property of the task, not a fit to air data,
so the table-only setting stays table-only. The weights are kept; :func:`rebase_planner` then
trains them on (continues from) the planner's own dataset under the widened normalizer, so the
result is still a table-only planner, now with the air heights inside its range::

    adiff planner workspace planner:fetch-pick-place-table --name fetch-pick-place-table --steps 3000

Rows are ``[action (A), observation (O)]``, so state dim ``d`` is row column ``A + d``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adiff_env.manipulation.env import AIR_OFFSET_HIGH

if TYPE_CHECKING:
    from adiff_env.planners.train import TrainResult
    from adiff_env.registry import Checkpoint, ModelRegistry

HEIGHT_DIMS = (2, 5)
"""State dims widened: the gripper's z (``grip_pos[2]``) and the block's z (``object_pos[2]``)."""
WORKSPACE_MARGIN = 0.03
"""Head room (m) above the highest goal (a held block's centre sits a little above the goal)."""


def workspace_high(table_z: float, margin: float = WORKSPACE_MARGIN) -> float:
    """The top of pick-and-place's goal region plus ``margin``: ``table_z + 0.45 + margin`` (m)."""
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 m, got {margin}.")
    return float(table_z) + AIR_OFFSET_HIGH + float(margin)


def widen_normalizer(normalizer: dict[str, Any], action_dim: int, high: float,
                     dims: tuple[int, ...] = HEIGHT_DIMS) -> dict[str, Any]:
    """A copy of a min-max ``normalizer`` (its ``to_dict()`` form, rows ``[A + O]``) whose upper
    bound on state dims ``dims`` is at least ``high``; other dims and the lower bounds are
    unchanged. Raises ValueError for a non-minmax normalizer or a dim outside the rows."""
    if not isinstance(normalizer, dict) or normalizer.get("kind") != "minmax":
        kind = normalizer.get("kind") if isinstance(normalizer, dict) else type(normalizer).__name__
        raise ValueError(f"widen_normalizer needs a 'minmax' normalizer (a bound to widen), got {kind!r}; "
                         "train the planner with [data] normalizer = \"minmax\".")
    if action_dim < 0:
        raise ValueError(f"action_dim must be >= 0, got {action_dim}.")
    low, top = list(normalizer["low"]), list(normalizer["high"])
    width = len(top) - action_dim
    bad = [d for d in dims if not 0 <= d < width]
    if bad:
        raise ValueError(f"dims {bad} are outside the {width} state dims of this normalizer.")
    for d in dims:
        top[action_dim + d] = max(float(top[action_dim + d]), float(high))
    return {**normalizer, "low": low, "high": top}


def covers(normalizer: dict[str, Any], action_dim: int, high: float, dims: tuple[int, ...] = HEIGHT_DIMS) -> bool:
    """Whether a min-max ``normalizer``'s upper bound on ``dims`` already reaches ``high``."""
    return normalizer.get("kind") == "minmax" and all(
        float(normalizer["high"][action_dim + d]) >= high for d in dims)


def widened_checkpoint(checkpoint: Checkpoint, table_z: float, margin: float = WORKSPACE_MARGIN) -> Checkpoint:
    """``checkpoint`` (in memory; nothing written) with its normalizer widened to the workspace.

    Its weights were trained under the old normalizer, so use it only to start training from
    (:func:`rebase_planner`), not to act."""
    action_dim = int(checkpoint.config["dims"]["action_dim"])
    norm = widen_normalizer(checkpoint.metadata.normalizer, action_dim, workspace_high(table_z, margin))
    return dataclasses.replace(checkpoint, metadata=dataclasses.replace(checkpoint.metadata, normalizer=norm))


def rebase_planner(checkpoint: Checkpoint, *, env_id: str, name: str, steps: int, lr: float, run_dir: Path,
                   registry: ModelRegistry | None = None, seed: int = 0, warmup_steps: int = 100,
                   margin: float = WORKSPACE_MARGIN, device: str = "cpu", progress: bool = True,
                   resume: bool = False) -> TrainResult:
    """Widen ``checkpoint``'s normalizer to ``env_id``'s workspace and train ``steps`` more steps
    from its weights on its own preset's dataset (e.g. the table-goal data); registered as
    ``name`` in ``registry`` (default ``$ADIFF_HOME``), parent = ``checkpoint``. ``resume``
    continues an interrupted run in ``run_dir`` (its ``resume.pt``)."""
    import gymnasium as gym

    from adiff_env.manipulation.rollouts import table_height
    from adiff_env.planners.preset import PlannerPreset
    from adiff_env.planners.train import train_planner

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}.")
    env = gym.make(env_id)
    try:
        table_z = table_height(env)
    finally:
        env.close()
    start = widened_checkpoint(checkpoint, table_z, margin)
    preset = PlannerPreset.from_dict(checkpoint.config["preset"], source=f"{checkpoint.spec} config")
    train = {"steps": steps, "lr": lr, "warmup_steps": min(warmup_steps, steps // 10), "eval_every": 0,
             "checkpoint_every": min(500, steps), "seed": seed}
    preset = preset.replace(train=train, diffusion={"global_cond": bool(checkpoint.config.get("global_cond", False))})
    preset = dataclasses.replace(preset, name=name)
    return train_planner(preset, run_dir=run_dir, device=device, progress=progress, registry=registry, init_from=start,
                        resume=resume)
