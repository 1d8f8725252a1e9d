"""Fine-tune a trajectory planner on a self-evolution buffer mixed with its own training data:
the ``finetune`` step the maze and Fetch evolve domains share.

The buffer is exported as the Minari dataset ``evolve/NAME-buffer-v0`` (atomically, by
:meth:`~adiff_env.evolve.buffer.TrajectoryBuffer.to_minari`), then ``current``'s own preset
trains on from ``current``'s weights with ``mix_ratio`` of its windows drawn from the buffer.
The network's conditioning is fixed by the checkpoint (older ones had no global condition).
The candidate goes to a scratch registry under ``folder / "candidate"``, its run to
``folder / "train"``; the evolution loop decides whether it is registered.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from adiff_env.registry import Checkpoint


def finetune_on_buffer(current: Checkpoint, buffer: Any, folder: Path, *, name: str, env_id: str, steps: int, lr: float,
                       seed: int, mix_ratio: float, device: str = "cpu", progress: bool = True,
                       batch_size: int | None = None, act: Mapping[str, Any] | None = None,
                       env_kwargs: Mapping[str, Any] | None = None, description: str = "",
                       consolidate_steps: int = 0,
                       buffer_goal_above: tuple[int, float] | None = None,
                       buffer_goal_exempt: str | None = None) -> tuple[Checkpoint, float]:
    """Returns ``(candidate checkpoint, final training loss)`` (module doc). ``buffer`` is a
    :class:`~adiff_env.evolve.buffer.TrajectoryBuffer` of rollout items on ``env_id`` (made with
    ``env_kwargs``); ``act`` overrides the candidate's acting options. ``consolidate_steps``
    (default 0: none): after the mixed fine-tune, that many more steps on ``current``'s own
    dataset alone (same ``lr``, run folder ``folder / "consolidate"``), to win back the seen
    task; the candidate is then the consolidated version. ``buffer_goal_above`` (``(state dim,
    raw value)``): the buffer's windows take hindsight goals only at steps above the value, except
    those of episodes labelled ``infos[buffer_goal_exempt]`` (an item key ``infos/KEY``; e.g.
    rehearsed table rollouts, whose goals are on the table)."""
    if consolidate_steps < 0:
        raise ValueError(f"consolidate_steps must be >= 0, got {consolidate_steps}.")
    import gymnasium as gym

    from adiff_env.planners.preset import PlannerPreset
    from adiff_env.planners.train import train_planner
    from adiff_env.registry import ModelRegistry

    dataset_id = f"evolve/{name}-buffer-v0"
    env = gym.make(env_id, **dict(env_kwargs or {}))
    try:
        buffer.to_minari(dataset_id, env, description=description)
    finally:
        env.close()
    preset = PlannerPreset.from_dict(current.config["preset"], source=f"{current.spec} config")
    train: dict[str, Any] = {"steps": steps, "lr": lr, "warmup_steps": min(50, steps // 10), "eval_every": 0,
                             "checkpoint_every": steps, "seed": seed}
    if batch_size:
        train["batch_size"] = batch_size
    diffusion = {"global_cond": bool(current.config.get("global_cond", False))}
    # the checkpoint's own acting options (a derived version changes them without retraining,
    # e.g. pointmaze-medium-evo@v3's subgoal_cells, fetch-push@v4's hold_tolerance), then the overrides
    own_act = {**dict(current.config.get("act") or {}), **dict(act or {})}
    preset = preset.replace(train=train, diffusion=diffusion, **({"act": own_act} if own_act else {}))
    preset = dataclasses.replace(preset, name=name)
    scratch = ModelRegistry(folder / "candidate", read_only_roots=[])
    result = train_planner(preset, run_dir=folder / "train", device=device, progress=progress, registry=scratch,
                           init_from=current, extra_dataset=dataset_id, extra_ratio=mix_ratio,
                           extra_goal_above=buffer_goal_above, extra_goal_above_exempt=buffer_goal_exempt)
    if consolidate_steps:
        train = {**train, "steps": consolidate_steps, "warmup_steps": min(50, consolidate_steps // 10),
                 "checkpoint_every": consolidate_steps}
        result = train_planner(preset.replace(train=train), run_dir=folder / "consolidate", device=device,
                               progress=progress, registry=scratch, init_from=result.checkpoint)
    return result.checkpoint, result.final_loss
