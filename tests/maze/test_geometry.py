"""One MazeGeometry for env, expert, bounds, planner task and rewards."""

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.maze.expert import make_expert
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import shortest_path


@pytest.fixture(scope="module", params=["adiff/PointMaze-UMaze-v0", "adiff/PointMaze-Large-v0"])
def env(request):
    e = gym.make(request.param)
    yield e
    e.close()


def test_cells_and_centres_match_gymnasium_robotics(env):
    u = env.unwrapped
    g = u.geometry
    for cell in u.layout.free:
        centre = g.cell_center(cell)
        np.testing.assert_allclose(centre, u.maze.cell_rowcol_to_xy(np.array(cell)))
        assert g.cell_of(centre) == cell
        assert g.cell_of(centre + 0.49 * g.scale) == cell  # anywhere inside the cell
    assert g.cell_of(g.cell_center((1, 1)) + np.array([g.scale, 0.0])) == (1, 2)


def test_in_wall_agrees_with_the_layout_and_counts_outside_as_wall(env):
    u = env.unwrapped
    g = u.geometry
    rows, cols = u.layout.shape
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    walls = g.in_wall(np.stack([g.cell_center(c) for c in cells]))
    assert walls.tolist() == [not u.layout.is_free(c) for c in cells]
    assert walls.sum() == rows * cols - len(u.layout.free) > 0
    assert g.in_wall(np.array([[1e3, 1e3], [-1e3, 0.0]])).all()
    assert len(g.wall_boxes()) == walls.sum()


def test_cell_paths_are_the_layouts_shortest_paths(env):
    u = env.unwrapped
    g = u.geometry
    goal = u.eval_goal_cell
    for start in u.layout.free[:: max(1, len(u.layout.free) // 8)]:
        assert g.path_cells(start, goal) == shortest_path(u.layout, start, goal)
    wall = next((r, c) for r in range(u.layout.shape[0]) for c in range(u.layout.shape[1]) if not u.layout.is_free((r, c)))
    assert g.path_cells(wall, goal)[0] in u.layout.free  # a start in a wall snaps to a free cell


def test_expert_and_planner_task_share_the_envs_geometry(env):
    u = env.unwrapped
    expert = make_expert(env)
    task = u.planning_task()
    pos, goal = u.geometry.cell_center(u.layout.free[0]), u.geometry.cell_center(u.eval_goal_cell)
    assert expert.path_cells(expert.cell_of(pos), expert.cell_of(goal)) == task.geometry.path_cells(
        task.geometry.cell_of(pos), task.geometry.cell_of(goal))
    assert task.path_length(np.r_[pos, 0.0, 0.0], goal) == pytest.approx(u.geometry.grid_path_length(pos, goal))
    assert task.path_length(np.r_[pos, 0.0, 0.0], goal) >= np.linalg.norm(goal - pos) - 1e-9


def test_from_maze_needs_a_maze():
    with pytest.raises(TypeError, match="gymnasium_robotics Maze"):
        MazeGeometry.from_maze(object())
