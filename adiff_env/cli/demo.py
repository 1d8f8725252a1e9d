"""``adiff demo``: the diffusion planner in a maze, saved as a picture (matplotlib PNG).

By default the shipped pretrained U-Maze planner (``planner:pointmaze-umaze``, no training
step) plans and acts for one episode; the PNG shows the walls, start, goal, the first plan and
the executed path. ``--agent expert`` (or any agent spec) drives another agent instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adiff_env.cli._common import CLIError, check_env_id

DEFAULT_ENV = "adiff/PointMaze-UMaze-v0"
DEFAULT_OUT = Path("out") / "demo-pointmaze.png"
DEFAULT_AGENT = "planner:pointmaze-umaze"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the diffusion planner in a maze; saves a PNG of its plan and path",
        description="Run one episode of the pretrained diffusion planner (or --agent) in a PointMaze and save a "
        "picture of the walls, start, goal, the first plan and the path it drove.",
    )
    p.add_argument("--env", default=DEFAULT_ENV, help=f"maze env id (default {DEFAULT_ENV})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG file to write (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="reset seed of the episode (default 0)")
    p.add_argument("--agent", default=DEFAULT_AGENT, help=f"agent spec KIND[:ARG][?KEY=VALUE&...] (default {DEFAULT_AGENT}; e.g. expert, "
                   "planner:pointmaze-umaze?replan_every=4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import numpy as np

    import adiff_env.maze  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.agents import check_agent, make_agent
    from adiff_env.maze.plotting import plot_maze, save_figure

    if args.out.suffix.lower() != ".png":
        raise CLIError(f"--out must name a .png file, got {str(args.out)!r}.")
    spec = check_agent(args.agent, resolve=True)  # names and option values, then the model exists
    env = gym.make(check_env_id(args.env))
    try:
        if getattr(env.unwrapped, "maze", None) is None:
            raise CLIError(f"adiff demo draws mazes; {args.env!r} is not a PointMaze env (try {DEFAULT_ENV}).")
        agent = make_agent(spec, env)
        obs, info = env.reset(seed=args.seed)
        xy, total, success, episode_start = [obs["achieved_goal"].copy()], 0.0, bool(info["success"]), True
        first_plan = None
        while True:
            action, _ = agent.predict(obs, episode_start=episode_start, deterministic=True)
            if episode_start and getattr(agent, "current_plan", None) is not None:
                first_plan = agent.current_plan.copy()
            episode_start = False
            obs, reward, terminated, truncated, info = env.step(action)
            xy.append(obs["achieved_goal"].copy())
            total += reward
            success = success or bool(info["success"])
            if terminated or truncated:
                break
        ax = plot_maze(
            env,
            paths={**({"first plan": first_plan} if first_plan is not None else {}), f"{args.agent} path": np.array(xy)},
            title=f"{args.env} seed {args.seed}: return {total:.0f}, {len(xy) - 1} steps",
        )
        path = save_figure(ax.figure, args.out)
    finally:
        env.close()
    print(f"saved {path} ({args.agent} on {args.env}, seed {args.seed}: return {total:.1f}, success {success})")
    return 0
