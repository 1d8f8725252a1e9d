"""The adiff/ PointMaze envs against the real MuJoCo simulation: checkers, D4RL protocol,
layouts, coins, normalized score, rendering."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.errors import UnknownNameError
from adiff_env.maze import GOLD_COINS, MAZE_PRESETS, load_maze_references
from adiff_env.maze.env import D4RL_EVAL_GOALS, normalized_score_x100

MAZE_IDS = list(MAZE_PRESETS)
BASE_IDS = ["adiff/PointMaze-UMaze-v0", "adiff/PointMaze-Medium-v0", "adiff/PointMaze-Large-v0"]


@pytest.fixture
def make():
    envs = []

    def _make(env_id="adiff/PointMaze-UMaze-v0", **kwargs):
        env = gym.make(env_id, **kwargs)
        envs.append(env)
        return env

    yield _make
    for env in envs:
        env.close()


@pytest.mark.parametrize("env_id", MAZE_IDS)
def test_env_checkers_pass(env_id, make):
    env = make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)


@pytest.mark.parametrize(("env_id", "steps", "goal_cell"), [
    ("adiff/PointMaze-UMaze-v0", 300, (1, 1)),
    ("adiff/PointMaze-Medium-v0", 600, (6, 6)),
    ("adiff/PointMaze-Large-v0", 800, (7, 9)),
])
def test_d4rl_protocol_goal_and_episode_length(env_id, steps, goal_cell, make):
    env = make(env_id)
    u = env.unwrapped
    assert env.spec.max_episode_steps == steps
    assert u.eval_goal_cell == goal_cell
    expected_goal = u.maze.cell_rowcol_to_xy(np.array(goal_cell))
    starts = set()
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        np.testing.assert_array_equal(obs["desired_goal"], expected_goal)  # fixed, no noise
        starts.add(tuple(u.maze.cell_xy_to_rowcol(obs["achieved_goal"])))
    assert len(starts) > 2  # random start cell each reset
    env.reset(seed=0)
    n, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert isinstance(reward, float)
        n += 1
    assert (n, terminated, truncated) == (steps, False, True)


def test_sparse_reward_uses_d4rl_radius_and_rewards_staying(make):
    env = make()
    u = env.unwrapped
    env.reset(seed=0)
    goal = u.goal.copy()
    for offset, expected in [(0.0, 1.0), (0.48, 1.0), (0.52, 0.0)]:  # 0.48 would fail gym-robotics' 0.45
        u.point_env.set_state(goal + np.array([offset, 0.0]), np.zeros(2))
        obs, reward, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
        assert reward == expected and info["success"] is bool(expected) and not terminated
        assert reward == u.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
    batch = u.compute_reward(np.stack([goal, goal + 2.0]), np.stack([goal, goal]), [{}, {}])
    np.testing.assert_array_equal(batch, [1.0, 0.0])


def test_reset_is_seeded_and_options_pick_cells(make):
    env = make()
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    obs, info = env.reset(seed=1, options={"reset_cell": (1, 1)})
    assert info["success"] and np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) <= 0.15
    obs, _ = env.reset(options={"goal_cell": [3, 1]})
    np.testing.assert_array_equal(obs["desired_goal"], env.unwrapped.maze.cell_rowcol_to_xy(np.array([3, 1])))
    with pytest.raises(ValueError, match="reset_cell"):
        env.reset(options={"reset_cell": (0, 0)})


def test_continuing_task_false_terminates_on_success(make):
    env = make(continuing_task=False)
    env.reset(seed=0, options={"reset_cell": (1, 1)})
    _, reward, terminated, _, _ = env.step(np.zeros(2, dtype=np.float32))
    assert terminated and reward == 1.0


def test_reset_target_draws_new_goal_when_reached(make):
    env = make(reset_target=True, max_episode_steps=50)
    goals = {tuple(env.reset(seed=s)[0]["desired_goal"].round(3)) for s in range(6)}
    assert len(goals) > 1  # random goal per reset
    obs, _ = env.reset(seed=3)
    u = env.unwrapped
    u.point_env.set_state(u.goal.copy(), np.zeros(2))
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 1.0 and info["success"]
    assert np.linalg.norm(u.goal - u.point_env.data.qpos[:2]) > 0.5  # replaced
    assert env.spec.max_episode_steps == 50


def test_shipped_layout_files_equal_gymnasium_robotics_maps(make):
    from gymnasium_robotics.envs.maze.maps import LARGE_MAZE, MEDIUM_MAZE, U_MAZE

    for name, grid in [("umaze", U_MAZE), ("medium.txt", MEDIUM_MAZE), ("large", LARGE_MAZE)]:
        assert make(layout=name).unwrapped.maze.maze_map == grid
    assert set(D4RL_EVAL_GOALS) == {"umaze.txt", "medium.txt", "large.txt"}


def test_custom_map_with_goal_and_reset_cells(make):
    grid = [[1, 1, 1, 1, 1, 1], [1, "r", 0, 0, "g", 1], [1, 1, 1, 1, 1, 1]]
    env = make(maze_map=grid)
    u = env.unwrapped
    assert u.maze.maze_map == grid and u.eval_goal_cell == (1, 4) and u.start_cells == ((1, 1),)
    obs, _ = env.reset(seed=0)
    assert tuple(u.maze.cell_xy_to_rowcol(obs["achieved_goal"])) == (1, 1)
    assert not hasattr(u, "get_normalized_score")  # no references for a custom maze


def test_farthest_goal_without_g_cell_is_deterministic(make):
    # An L: free cells (1,1) (1,2) (1,3) (2,3) (3,3); no 'r' -> BFS from the first free cell (1,1).
    grid = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 1, 1, 0, 1], [1, 1, 1, 0, 1], [1, 1, 1, 1, 1]]
    assert make(maze_map=grid).unwrapped.eval_goal_cell == (3, 3)
    with_r = [row[:] for row in grid]
    with_r[3][3] = "r"  # from the reset cell the far end is (1,1)
    assert make(maze_map=with_r).unwrapped.eval_goal_cell == (1, 1)
    # ties go to the first cell in row-major order
    tie = [[1, 1, 1, 1, 1], [1, 0, "r", 0, 1], [1, 1, 1, 1, 1]]
    assert make(maze_map=tie).unwrapped.eval_goal_cell == (1, 1)


def test_layout_from_a_file_path(tmp_path, make):
    path = tmp_path / "corridor.txt"
    path.write_text("#####\n#r.g#\n#####\n")
    env = make(layout=str(path))
    assert env.unwrapped.eval_goal_cell == (1, 3)
    assert env.unwrapped.layout.to_text() == "#####\n#r.g#\n#####\n"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"maze_map": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]}, "no free cell"),
    ({"maze_map": [[1, 1, 1, 1], [1, 0, 1], [1, 1, 1, 1]]}, "ragged"),
    ({"maze_map": [[1, 1, 1, 1, 1], [1, 0, 1, "g", 1], [1, 1, 1, 1, 1]]}, "unreachable"),
    ({"maze_map": [[1, 1, 1], [1, "x", 1], [1, 1, 1]]}, "unknown cell value 'x'"),
    ({"maze_map": [[1, 0, 1], [1, 0, 1], [1, 1, 1]]}, "border"),
    ({"goal_cell": (0, 0)}, "goal_cell"),
    ({"coins": [(0, 0)]}, "coins"),
    ({"coin_bonus": -1.0}, "coin_bonus"),
])
def test_bad_layouts_raise_clear_value_errors_at_make(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("adiff/PointMaze-UMaze-v0", **kwargs)


def test_bad_layout_file_and_unknown_name(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#.?.#\n#####\n")
    with pytest.raises(ValueError, match=r"unknown character '\?' at row 1, column 2"):
        gym.make("adiff/PointMaze-UMaze-v0", layout=str(bad))
    with pytest.raises(UnknownNameError, match=r"Did you mean 'umaze.txt'.*large.txt, medium.txt"):
        gym.make("adiff/PointMaze-UMaze-v0", layout="umaz")


def test_gold_coins_bonus_once_and_in_obs_and_info(make):
    env = make("adiff/PointMaze-Medium-GoldCoin-v0")
    u = env.unwrapped
    assert [list(c) for c in u.coin_cells] == GOLD_COINS["medium.txt"]
    obs, info = env.reset(seed=0)
    assert obs["coin_positions"].shape == (4,) and list(obs["coins_collected"]) == [0, 0]
    coin = u.coin_positions[1]
    u.point_env.set_state(coin + np.array([0.3, 0.0]), np.zeros(2))
    obs, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == u.coin_bonus and info["coin_bonus"] == u.coin_bonus
    assert list(obs["coins_collected"]) == [0, 1] and list(info["coins_collected"]) == [0, 1]
    assert reward == u.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 0.0 and info["coin_bonus"] == 0.0  # only the first pass pays
    obs, _ = env.reset(seed=1)
    assert list(obs["coins_collected"]) == [0, 0]


def test_custom_coins_kwarg(make):
    env = make("adiff/PointMaze-UMaze-v0", coins=[(3, 1)], coin_bonus=2.5)
    assert env.unwrapped.coin_cells == ((3, 1),) and env.unwrapped.coin_bonus == 2.5
    assert "coin_positions" in env.observation_space.spaces


def test_normalized_score_uses_stored_references(make):
    refs = load_maze_references()
    for env_id in MAZE_IDS:
        ref = refs[env_id]
        env = make(env_id)
        score = env.unwrapped.get_normalized_score
        assert score(ref["ref_min_score"]) == pytest.approx(0.0)
        assert score(ref["ref_max_score"]) == pytest.approx(1.0)
        mid = (ref["ref_min_score"] + ref["ref_max_score"]) / 2
        assert normalized_score_x100(env, mid) == pytest.approx(50.0)
        assert env.unwrapped.normalized_score_x100(mid) == pytest.approx(50.0)
        assert ref["ref_max_score"] > ref["ref_min_score"]
    # references belong to the exact maze: another goal drops them
    assert not hasattr(make(goal_cell=(3, 1)).unwrapped, "get_normalized_score")
    with pytest.raises(AttributeError, match="no reference scores"):
        make(goal_cell=(3, 1)).unwrapped.get_normalized_score(1.0)


def test_env_pickles(make):
    env = make("adiff/PointMaze-Medium-GoldCoin-v0")
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    try:
        assert clone.coin_cells == env.unwrapped.coin_cells and clone.eval_goal_cell == (6, 6)
    finally:
        clone.close()


def test_rgb_array_render_is_an_image(make):
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.std() > 0  # not a blank picture


@pytest.mark.slow
def test_rendering_then_importing_triton_does_not_crash(tmp_path):
    """Mesa's LLVM (software EGL) + a later triton import segfaulted; the env preloads triton."""
    import subprocess
    import sys

    pytest.importorskip("triton")
    script = tmp_path / "render_then_triton.py"
    script.write_text(
        "import gymnasium as gym, adiff_env.maze\n"
        "env = gym.make('adiff/PointMaze-UMaze-v0', render_mode='rgb_array')\n"
        "env.reset(seed=0); frame = env.render(); env.close()\n"
        "import triton\n"
        "print('ok', frame.shape)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MUJOCO_GL": "egl"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ok (480, 480, 3)" in proc.stdout
