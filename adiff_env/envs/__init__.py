"""Gymnasium environments of adiff-env, registered under ids ``adiff/...`` on import.

Mazes (``maze.py``, D4RL maze2d protocol on gymnasium-robotics' PointMaze):

=====================================  ============  =====  ===========================
id                                     layout        steps  notes
=====================================  ============  =====  ===========================
``adiff/PointMaze-UMaze-v0``           umaze.txt     300    goal (1, 1)
``adiff/PointMaze-Medium-v0``          medium.txt    600    goal (6, 6)
``adiff/PointMaze-Large-v0``           large.txt     800    goal (7, 9)
``adiff/PointMaze-Medium-GoldCoin-v0``  medium.txt    600    coins :data:`GOLD_COINS`
``adiff/PointMaze-Large-GoldCoin-v0``   large.txt     800    coins :data:`GOLD_COINS`
=====================================  ============  =====  ===========================

Code (``code.py``): ``adiff/CodeTests-v0``: write a program; the task's tests run in a sandbox.

Reference scores for the normalized score come from ``envs/mazes/references.json``
(written by ``benchmarks/compute_maze_refs.py``).
"""

from __future__ import annotations

import json
from typing import Any

from gymnasium.envs.registration import register, registry

from adiff_env.assets import asset_path

MAZE_ENTRY_POINT = "adiff_env.envs.maze:AdiffPointMazeEnv"

GOLD_COINS: dict[str, list[list[int]]] = {
    # Off the shortest routes to the goal: dead ends and far corners, so collecting them is a detour.
    "medium.txt": [[1, 6], [6, 1]],
    "large.txt": [[1, 1], [5, 4], [1, 10]],
}

MAZE_PRESETS: dict[str, dict[str, Any]] = {
    "adiff/PointMaze-UMaze-v0": {"layout": "umaze.txt", "max_episode_steps": 300, "coins": None},
    "adiff/PointMaze-Medium-v0": {"layout": "medium.txt", "max_episode_steps": 600, "coins": None},
    "adiff/PointMaze-Large-v0": {"layout": "large.txt", "max_episode_steps": 800, "coins": None},
    "adiff/PointMaze-Medium-GoldCoin-v0": {
        "layout": "medium.txt",
        "max_episode_steps": 600,
        "coins": GOLD_COINS["medium.txt"],
    },
    "adiff/PointMaze-Large-GoldCoin-v0": {
        "layout": "large.txt",
        "max_episode_steps": 800,
        "coins": GOLD_COINS["large.txt"],
    },
}


def load_maze_references() -> dict[str, dict[str, Any]]:
    """Reference scores per env id from ``envs/mazes/references.json`` ({} if absent)."""
    path = asset_path("envs", "mazes", "references.json")
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("envs", {})


def _register_mazes() -> None:
    refs = load_maze_references()
    for env_id, preset in MAZE_PRESETS.items():
        if env_id in registry:
            continue
        kwargs: dict[str, Any] = {"layout": preset["layout"], "reference_scores": refs.get(env_id)}
        if preset["coins"] is not None:
            kwargs["coins"] = preset["coins"]
        register(
            id=env_id,
            entry_point=MAZE_ENTRY_POINT,
            max_episode_steps=preset["max_episode_steps"],
            kwargs=kwargs,
        )


_register_mazes()

if "adiff/CodeTests-v0" not in registry:
    register(id="adiff/CodeTests-v0", entry_point="adiff_env.envs.code:CodeTestsEnv")
import adiff_env.manipulation  # noqa: F401  (Fetch ids; the layout refactor moves registration)
