"""``diffusion.state_weights``: per-state-dim loss weights of the trajectory planner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adiff_env.diffusion import DiffusionObjective, make_schedule
from adiff_env.planners.preset import DiffusionConfig, PlannerPreset
from adiff_env.planners.train import train_planner
from adiff_env.registry import ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"


def _preset(dataset: str, state_weights: list[float]) -> PlannerPreset:
    return PlannerPreset.from_dict({
        "name": "tiny-weighted", "env": ENV, "dataset": dataset,
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8, "action_weight": 0.5, "state_weights": state_weights},
        "train": {"steps": 10, "batch_size": 8, "eval_every": 0, "checkpoint_every": 10, "inverse_dynamics_hidden": 8},
        "act": {"sampler": "ddim", "sampler_steps": 4, "replan_every": 4},
    })


def test_loss_weights_put_action_and_state_weights_in_row_order():
    assert DiffusionConfig().loss_weights(2, 3) == [1.0, 1.0, 1.0, 1.0, 1.0]
    cfg = DiffusionConfig(action_weight=0.5, state_weights=(4.0, 0.0, 1.0))
    assert cfg.loss_weights(2, 3) == [0.5, 0.5, 4.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="state_weights has 3 entries but the data's states have 4 dims"):
        cfg.loss_weights(2, 4)


@pytest.mark.parametrize("bad", [(-1.0, 1.0), (1.0, float("nan")), (float("inf"), 1.0)])
def test_bad_state_weights_are_clear_errors(bad):
    with pytest.raises(ValueError, match=r"diffusion.state_weights must be finite numbers >= 0; bad \(index, value\)"):
        DiffusionConfig(state_weights=bad)


def test_all_zero_state_weights_and_bad_action_weight_are_errors():
    with pytest.raises(ValueError, match="state_weights are all 0"):
        DiffusionConfig(state_weights=(0.0, 0.0))
    with pytest.raises(ValueError, match="action_weight must be a finite number >= 0, got -1.0"):
        DiffusionConfig(action_weight=-1.0)


def test_zero_weight_column_does_not_count_in_the_loss():
    """A column weighted 0 leaves the loss unchanged whatever the model predicts there."""
    schedule = make_schedule("cosine", 8)
    weights = torch.tensor(DiffusionConfig(action_weight=1.0, state_weights=(1.0, 0.0)).loss_weights(1, 2))
    objective = DiffusionObjective(schedule, prediction="x0", weights=weights)
    x0 = torch.zeros(2, 4, 3)

    class Const(torch.nn.Module):
        def __init__(self, col: int, value: float) -> None:
            super().__init__()
            self.col, self.value = col, value

        def forward(self, x, t, cond=None):
            out = torch.zeros_like(x)
            out[..., self.col] = self.value
            return out

    def loss(model):
        return float(objective(model, x0, generator=torch.Generator().manual_seed(0)).loss)

    assert loss(Const(2, 5.0)) == pytest.approx(loss(Const(2, 0.0)))  # the zero-weight state column
    assert loss(Const(1, 5.0)) > loss(Const(1, 0.0)) + 1.0  # a weighted one


@pytest.mark.slow
def test_weighted_training_run_registers_and_checks_the_length(tmp_path, monkeypatch):
    from adiff_env.datasets.collect import collect_dataset

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path / "home"))
    collect_dataset(ENV, 600, seed=0, dataset_id="test/umaze-weights-v0", episode_steps=300, progress=False)
    registry = ModelRegistry(tmp_path / "home" / "models")
    result = train_planner(_preset("test/umaze-weights-v0", [4.0, 4.0, 0.25, 0.25]), run_dir=tmp_path / "run",
                           progress=False, registry=registry)
    assert result.steps == 10 and np.isfinite(result.final_loss)
    assert result.checkpoint.config["preset"]["diffusion"]["state_weights"] == [4.0, 4.0, 0.25, 0.25]
    with pytest.raises(ValueError, match="state_weights has 3 entries but the data's states have 4 dims"):
        train_planner(_preset("test/umaze-weights-v0", [1.0, 1.0, 1.0]), run_dir=tmp_path / "run2", progress=False,
                      registry=registry)
