"""The diffusion trajectory planner on Fetch: training windows stay inside the 50-step episodes
and rest with the world frozen, training pins exactly what acting pins (only the block), and a
tiny planner trained end to end through the CLI acts in adiff/FetchPush-v0 (temp ADIFF_HOME and
MINARI_DATASETS_PATH from the conftest)."""

from __future__ import annotations

import json

import minari
import numpy as np
import pytest
import torch

from adiff_env.cli.main import main
from adiff_env.datasets.collect import collect_dataset
from adiff_env.datasets.normalizers import fit_normalizer
from adiff_env.datasets.segments import SegmentDataset
from adiff_env.diffusion import make_schedule
from adiff_env.manipulation.task import FetchPlanningTask
from adiff_env.planners.preset import ActConfig, load_preset
from adiff_env.planners.task import pinned_columns, point_mass_task
from adiff_env.planners.train import training_conditioner
from adiff_env.planners.trajectory import TrajectoryPlanner

ACT, OBS = 4, 25


@pytest.fixture
def tiny_push():
    collect_dataset("adiff/FetchPush-v0", 150, noise_std=0.0, dataset_id="adiff/tiny-push-v0", episode_steps=50,
                    continuing=False, episodes_per_task=3, progress=False)
    return "adiff/tiny-push-v0"


def _episode_rows(dataset_id: str) -> list[np.ndarray]:
    """Per episode ``[T, A + O]`` rows ``(a_t, s_t)``, the final observation dropped."""
    rows = []
    for ep in minari.load_dataset(dataset_id).iterate_episodes():
        obs = np.asarray(ep.observations["observation"], dtype=np.float32)
        rows.append(np.concatenate([np.asarray(ep.actions, dtype=np.float32), obs[: len(ep.actions)]], axis=1))
    return rows


def test_windows_stay_inside_episodes_and_rest_frozen(tiny_push):
    episodes = _episode_rows(tiny_push)
    assert [len(e) for e in episodes] == [50, 50, 50]
    seg = SegmentDataset(tiny_push, 32, normalizer=None, goal_mode="hindsight", min_goal_index=4,
                         rest_keep_dims=range(OBS), seed=3)
    assert (seg.action_dim, seg.observation_dim) == (ACT, OBS)
    for i, (e, start, j) in enumerate(seg.indices):
        window, jj = seg.raw_window(i)
        assert jj == j and 4 <= j <= 31 and start + j <= 49  # the goal row is a step of the same episode
        np.testing.assert_array_equal(window[:j], episodes[e][start: start + j])
        np.testing.assert_array_equal(window[j:, ACT:], np.broadcast_to(episodes[e][start + j, ACT:], (32 - j, OBS)))
        assert not window[j:, :ACT].any()  # resting actions are zero
    # windows ending on an episode's last step exist (the time-limit episodes are used to the end)
    assert any(start + j == 49 for _, start, j in seg.indices)
    plain = SegmentDataset(tiny_push, 32, normalizer=None, goal_mode="none")
    assert len(plain) == 3 * (50 - 32 + 1)
    for i, (e, start, _) in enumerate(plain.indices):
        np.testing.assert_array_equal(plain.raw_window(i)[0], episodes[e][start: start + 32])


def test_default_rest_rule_is_the_mazes(tiny_push):
    """Without rest_keep_dims the first position_dims dims are kept and the rest zeroed (the maze's
    rule, what the shipped maze planners were trained on)."""
    seg = SegmentDataset(tiny_push, 16, normalizer=None, goal_mode="hindsight", seed=1)
    window, j = seg.raw_window(5)
    assert seg.rest_keep_dims == (0, 1)
    assert window[j:, ACT: ACT + 2].any() and not window[j:, ACT + 2:].any() and not window[j:, :ACT].any()
    with pytest.raises(ValueError, match="rest_keep_dims"):
        SegmentDataset(tiny_push, 16, goal_mode="hindsight", rest_keep_dims=(0, 25))


def _fetch_planner(data: np.ndarray) -> TrajectoryPlanner:
    act = ActConfig(action="plan", deadline="horizon", rank="smoothness", sampler_steps=4)
    return TrajectoryPlanner(torch.nn.Identity(), make_schedule("cosine", 8).to_dict(), "x0",
                             fit_normalizer("minmax", data), 16, ACT, OBS, act, task=FetchPlanningTask())


def test_training_pins_what_acting_pins():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, ACT + OBS)).astype(np.float32)
    planner = _fetch_planner(data)
    task = FetchPlanningTask()
    cols = pinned_columns(task, ACT)
    assert cols == [ACT + 3, ACT + 4, ACT + 5]  # the block position only
    for j in (1, 5, 15):
        acting = planner.conditioner(data[0, ACT:].astype(np.float64), data[1, ACT + 3: ACT + 6].astype(np.float64), j).mask
        training = training_conditioner(torch.as_tensor(data[None, :16]), torch.tensor([j]), ACT, cols).mask[0]
        assert torch.equal(acting, training)
        assert training[j:, ACT + 3: ACT + 6].all() and not training[j:, :ACT + 3].any() and not training[j:, ACT + 6:].any()
    # the maze's task pins every column from j on, so its training mask is the default (all columns)
    maze = point_mass_task(4)
    assert pinned_columns(maze, 2) == list(range(6))
    x = torch.randn(2, 8, 6)
    assert torch.equal(training_conditioner(x, torch.tensor([3, 7]), 2, pinned_columns(maze, 2)).mask,
                       training_conditioner(x, torch.tensor([3, 7]), 2).mask)


@pytest.mark.parametrize("name, env_id, dataset", [("fetch-push", "adiff/FetchPush-v0", "adiff/fetch-push-v0"),
                                                    ("fetch-pick-place", "adiff/FetchPickAndPlace-v0", "adiff/fetch-pickandplace-v0")])
def test_fetch_presets_load(name, env_id, dataset):
    from adiff_env.datasets.recipes import load_recipe

    preset = load_preset(name)
    assert preset.env == env_id and preset.dataset == dataset
    assert load_recipe(dataset.split("/")[1].removesuffix("-v0")).resolved_dataset_id == dataset  # a recipe makes it
    assert preset.data.horizon <= 50 and preset.data.horizon % 4 == 0
    assert preset.data.rest_keep_dims == tuple(range(OBS)) and preset.act.action in ("plan", "inverse-dynamics")
    assert preset.train.inverse_dynamics_hidden > 0  # both action rules available from one checkpoint

def test_maze_presets_keep_their_rest_rule():
    assert load_preset("pointmaze-umaze").data.rest_keep_dims is None


@pytest.mark.slow
def test_tiny_fetch_planner_end_to_end_through_the_cli(tiny_push, tmp_path, capsys):
    preset = tmp_path / "tiny-fetch.toml"
    preset.write_text(
        'name = "tiny-fetch"\nenv = "adiff/FetchPush-v0"\ndataset = "adiff/tiny-push-v0"\n'
        '[data]\nhorizon = 16\ngoal_mode = "hindsight"\nmin_goal_index = 2\n'
        f'rest_keep_dims = {list(range(OBS))}\n'
        '[model]\narch = "temporal_unet"\ndim = 8\ndim_mults = [1, 2]\n[diffusion]\nn_timesteps = 8\n'
        '[train]\nsteps = 10\nbatch_size = 8\nwarmup_steps = 2\neval_every = 0\ncheckpoint_every = 10\n'
        'inverse_dynamics_hidden = 16\n'
        '[act]\nsampler_steps = 2\nreplan_every = 8\naction = "plan"\ndeadline = "horizon"\nrank = "smoothness"\n')
    rc = main(["--threads", "1", "planner", "train", "adiff/FetchPush-v0", "--preset", str(preset), "--quiet", "--no-collect"])
    assert rc == 0
    assert "registered tiny-fetch@v1" in capsys.readouterr().out
    from adiff_env.registry import ModelRegistry

    ckpt = ModelRegistry().load("tiny-fetch")
    assert ckpt.config["model"]["config"]["cond_dim"] == OBS + 3 + 1  # start, block goal (3), j / H
    assert ckpt.config["inverse_dynamics"]["hidden"] == 16
    for action in ("plan", "inverse-dynamics"):
        rc = main(["--threads", "1", "evaluate", "adiff/FetchPush-v0", "--agent", f"planner:tiny-fetch?action={action}",
                   "--episodes", "1", "--seed", "500", "--json"])
        assert rc == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["episodes"] == 1 and result["episode_length_mean"] == 50
        assert "ever_success_rate" in result and result["plans"] >= 50 // 8
    # --init-from: a fine-tune starts from v1's weights, keeps its normalizer, records it as parent
    rc = main(["--threads", "1", "planner", "train", "adiff/FetchPush-v0", "--preset", str(preset), "--quiet", "--no-collect",
               "--init-from", "planner:tiny-fetch@v1", "--steps", "2", "--lr", "1e-9", "--warmup-steps", "1"])
    assert rc == 0 and "registered tiny-fetch@v2" in capsys.readouterr().out
    tuned = ModelRegistry().load("tiny-fetch@v2")
    assert tuned.metadata.parent == "tiny-fetch@v1" and tuned.metadata.normalizer == ckpt.metadata.normalizer
    assert tuned.metadata.steps == 2
    model_keys = [k for k in ckpt.tensors if k.startswith("model.")]  # inverse dynamics trains at its own lr
    assert model_keys and set(tuned.tensors) == set(ckpt.tensors)
    for key in model_keys:  # lr 1e-9 for 2 steps: still v1's denoiser
        assert torch.allclose(tuned.tensors[key].float(), ckpt.tensors[key].float(), atol=1e-4), key


@pytest.mark.parametrize("spec, message", [("planner:fetch-push@v4?hold_tolerance=0", "acting options do not apply"),
                                           ("planner:fetch-push-chunk", "not a 'trajectory-planner' one"),
                                           ("planner:no-such-planner", "no-such-planner")])
def test_train_init_from_is_checked_before_any_data(spec, message, capsys, monkeypatch, tmp_path):
    """A bad --init-from exits 2 with its reason before the dataset is looked at (none exists here)."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "no-data"))
    rc = main(["planner", "train", "adiff/FetchPush-v0", "--preset", "fetch-push", "--no-collect", "--init-from", spec])
    assert rc == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name,env_id", [("fetch-push", "adiff/FetchPush-v0"),
                                         ("fetch-pick-place", "adiff/FetchPickAndPlace-v0")])
def test_the_shipped_fetch_planners_resolve_with_their_acting_rules(name, env_id):
    """planner:NAME comes from planners/pretrained/ (the temp ADIFF_HOME is empty), acts by inverse
    dynamics (better than the planned action on push) and returns one action in [-1, 1]."""
    import gymnasium as gym

    from adiff_env.agents import make_agent

    env = gym.make(env_id)
    try:
        agent = make_agent(f"planner:{name}", env)
        assert agent.act.action == "inverse-dynamics" and agent.act.replan_every == 1 and agent.horizon == 32
        obs, _ = env.reset(seed=50000)
        action, _ = agent.predict(obs, episode_start=True)
        assert action.shape == (4,) and np.all(np.abs(action) <= 1)
    finally:
        env.close()
