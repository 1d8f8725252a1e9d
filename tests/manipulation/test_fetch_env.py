"""The adiff/ Fetch envs on the real MuJoCo simulation: checkers, float rewards, goal regions,
the forbidden zone, reset goals, reference scores, headless rendering, bad kwargs."""

from __future__ import annotations

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.errors import UnknownNameError
from adiff_env.manipulation import FETCH_PRESETS, is_fetch_env, load_fetch_references
from adiff_env.manipulation.rewards import FetchTaskReward

FETCH_IDS = list(FETCH_PRESETS)


@pytest.fixture
def make():
    envs = []

    def _make(env_id="adiff/FetchPush-v0", **kwargs):
        env = gym.make(env_id, **kwargs)
        envs.append(env)
        return env

    yield _make
    for env in envs:
        env.close()


def test_import_registers_ids_without_mujoco_or_torch():
    code = ("import sys, gymnasium as gym, adiff_env.manipulation as m; "
            "print(all(i in gym.registry for i in m.FETCH_PRESETS), 'mujoco' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["True", "False", "False"]


@pytest.mark.parametrize("env_id", FETCH_IDS)
def test_env_checkers_pass(env_id, make):
    env = make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    assert is_fetch_env(env) and env.unwrapped.success_at_last_step


@pytest.mark.parametrize("env_id", FETCH_IDS)
def test_float_rewards_bool_success_and_50_step_episodes(env_id, make):
    env = make(env_id)
    obs, info = env.reset(seed=0)
    assert isinstance(info["is_success"], bool) and set(obs) >= {"observation", "achieved_goal", "desired_goal"}
    n, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert type(reward) is float and reward in (-1.0, 0.0, -2.0)
        assert type(info["is_success"]) is bool
        assert reward == float(env.unwrapped.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        n += 1
    assert (n, terminated, truncated) == (50, False, True)
    assert make(env_id, max_episode_steps=7).spec.max_episode_steps == 7


def test_goal_regions_over_many_resets(make):
    heights = {}
    for region in ("table", "air", "both"):
        env = make("adiff/FetchPickAndPlace-v0", goal_region=region)
        table = env.unwrapped.height_offset
        heights[region] = np.array([env.reset(seed=s)[0]["desired_goal"][2] - table for s in range(150)])
    np.testing.assert_allclose(heights["table"], 0.0, atol=1e-12)
    assert np.all(heights["air"] > 0.05) and np.all(heights["air"] <= 0.45)
    on_table = np.isclose(heights["both"], 0.0, atol=1e-12)
    assert 0.3 < on_table.mean() < 0.7 and np.all(heights["both"][~on_table] < 0.45)  # Fetch's rule


def test_both_region_is_fetch_draw_for_draw(make):
    ours = make("adiff/FetchPickAndPlace-v0")
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    theirs = make("FetchPickAndPlace-v4")
    for seed in range(5):
        a, _ = ours.reset(seed=seed)
        b, _ = theirs.reset(seed=seed)
        for key in ("observation", "desired_goal"):
            np.testing.assert_array_equal(a[key], b[key])


def test_reset_option_pins_the_goal(make):
    env = make("adiff/FetchPickAndPlace-v0")
    obs, _ = env.reset(seed=3, options={"goal": [1.3, 0.7, 0.6]})
    np.testing.assert_array_equal(obs["desired_goal"], [1.3, 0.7, 0.6])
    np.testing.assert_array_equal(env.unwrapped.goal, [1.3, 0.7, 0.6])
    with pytest.raises(ValueError, match=r"options\['goal'\]"):
        env.reset(options={"goal": [1.0, 2.0]})


@pytest.mark.parametrize(("env_id", "kwargs", "error", "match"), [
    ("adiff/FetchPickAndPlace-v0", {"goal_region": "ceiling"}, UnknownNameError, "air, both, table"),
    ("adiff/FetchPush-v0", {"max_episode_steps": -5}, ValueError, "positive"),
    ("adiff/FetchPush-Avoid-v0", {"zone_radius": -0.1}, ValueError, "zone_radius"),
    ("adiff/FetchPush-Avoid-v0", {"zone_center": [1.0]}, ValueError, "zone_center"),
    ("adiff/FetchPush-Avoid-v0", {"zone_cost": float("nan")}, ValueError, "zone_cost"),
])
def test_bad_kwargs_get_clear_errors(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(env_id, **kwargs)


def test_forbidden_zone_in_obs_info_and_reward(make):
    env = make("adiff/FetchPush-Avoid-v0")
    u = env.unwrapped
    obs, info = env.reset(seed=0)
    zone = obs["forbidden_zone"]
    np.testing.assert_allclose(zone, [*u.initial_gripper_xpos[:2], 0.05])
    np.testing.assert_array_equal(info["forbidden_zone"], zone)
    for seed in range(40):  # goals and block starts keep clear of the zone
        obs, info = env.reset(seed=seed)
        assert np.linalg.norm(obs["desired_goal"][:2] - zone[:2]) > 0.1
        assert np.linalg.norm(obs["achieved_goal"][:2] - zone[:2]) > 0.1 and not info["in_zone"]
    # put the block in the zone: the step costs zone_cost on top of the sparse -1
    qpos = u._utils.get_joint_qpos(u.model, u.data, "object0:joint").copy()
    qpos[:2] = zone[:2]
    u._utils.set_joint_qpos(u.model, u.data, "object0:joint", qpos)
    u._mujoco.mj_forward(u.model, u.data)
    obs, reward, _, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert info["in_zone"] and info["zone_cost"] == 1.0 and reward == -2.0
    ag = np.stack([obs["achieved_goal"], obs["desired_goal"]])
    np.testing.assert_array_equal(u.compute_reward(ag, np.stack([obs["desired_goal"]] * 2), None), [-2.0, 0.0])
    # the planner-facing task reward agrees with the env's per-step reward
    traj = np.zeros((2, 25))
    traj[0, 3:6], traj[1, 3:6] = obs["achieved_goal"], obs["desired_goal"]
    assert u.task_reward()(traj) == pytest.approx(-1.0)  # mean of -2 (in zone, off goal) and 0 (at goal)


def test_task_reward_torch_form_prefers_paths_outside_the_zone():
    torch = pytest.importorskip("torch")
    reward = FetchTaskReward(goal=[1.4, 0.75, 0.42], zone=[1.3, 0.75, 0.05])
    through = torch.zeros(1, 5, 25, dtype=torch.float64)
    through[0, :, 3] = torch.linspace(1.2, 1.4, 5)
    through[0, :, 4], through[0, :, 5] = 0.75, 0.42
    around = through.clone()
    around[0, 1:4, 4] = 0.85  # same x, detour in y
    r = reward.torch_reward(torch.cat([through, around]))
    assert r.shape == (2,) and r[1] > r[0]
    with pytest.raises(ValueError, match="radius"):
        FetchTaskReward(goal=[0, 0, 0], zone=[0, 0, 0])


def test_normalized_score_only_for_the_reference_configuration(make):
    refs = load_fetch_references()
    assert {"adiff/FetchPush-v0", "adiff/FetchPickAndPlace-v0?goal_region=air", "adiff/FetchPush-Avoid-v0"} <= set(refs)
    env = make("adiff/FetchPickAndPlace-v0", goal_region="air")
    ref = refs["adiff/FetchPickAndPlace-v0?goal_region=air"]
    score = env.unwrapped.get_normalized_score
    assert score(ref["ref_min_score"]) == pytest.approx(0.0) and score(ref["ref_max_score"]) == pytest.approx(1.0)
    assert ref["success_rate"]["expert"] >= 0.95 and ref["max_episode_steps"] == 50
    assert not hasattr(make("adiff/FetchPush-Avoid-v0", zone_radius=0.03).unwrapped, "get_normalized_score")


def test_pickle_round_trip_keeps_the_configuration(make):
    env = make("adiff/FetchPickAndPlace-v0", goal_region="air")
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    try:
        assert clone.goal_region == "air"
    finally:
        clone.close()


@pytest.mark.slow
def test_rgb_array_renders_headless(make):
    env = make("adiff/FetchPush-Avoid-v0", render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
