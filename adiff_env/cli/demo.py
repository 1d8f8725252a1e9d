"""``adiff demo [maze|fetch]``: one episode of an agent, saved as a picture.

``adiff demo`` / ``adiff demo maze``: by default the shipped pretrained U-Maze planner
(``planner:pointmaze-umaze``, no training step) plans and acts for one episode; the PNG
(matplotlib) shows the walls, start, goal, the first plan and the executed path.
``adiff demo fetch``: the gripper on a Fetch task rendered headless (``MUJOCO_GL=egl``), as an
animated GIF or a PNG strip (:mod:`adiff_env.cli.demo_fetch`; default agent the scripted expert).
``--agent`` (any agent spec) drives another agent instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adiff_env.cli._common import CLIError, check_env_id

DEFAULT_ENV = "adiff/PointMaze-UMaze-v0"
DEFAULT_OUT = Path("out") / "demo-pointmaze.png"
DEFAULT_AGENT = "planner:pointmaze-umaze"
DOMAINS = ("maze", "fetch")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="one episode of an agent as a picture: a maze PNG (plan and path) or a Fetch GIF / PNG strip",
        description="maze (default): run one episode of the pretrained diffusion planner (or --agent) in a PointMaze "
        "and save a picture of the walls, start, goal, the first plan and the path it drove. fetch: render one "
        "episode of the scripted expert (or --agent) on a Fetch task headless (MUJOCO_GL=egl) and save an "
        "animated GIF (--out *.gif) or a strip of frames (--out *.png).",
    )
    p.add_argument("domain", nargs="?", default="maze", choices=DOMAINS, help="maze (default) or fetch")
    p.add_argument("--env", default=None, help=f"env id (maze default {DEFAULT_ENV}; fetch default adiff/FetchPush-v0, "
                   "also ID?KEY=VALUE such as adiff/FetchPickAndPlace-v0?goal_region=air)")
    p.add_argument("--out", type=Path, default=None, help=f"file to write (maze: PNG, default {DEFAULT_OUT}; fetch: "
                   ".gif or .png, default out/demo-fetch.gif)")
    p.add_argument("--seed", type=int, default=0, help="reset seed of the episode (default 0)")
    p.add_argument("--agent", default=None, help=f"agent spec KIND[:ARG][?KEY=VALUE&...] (maze default {DEFAULT_AGENT}; "
                   "fetch default expert; e.g. planner:pointmaze-umaze?replan_every=4, bc:bc-fetch-push)")
    p.add_argument("--size", type=int, default=240, help="fetch: frame width and height in pixels (default 240)")
    p.add_argument("--frame-every", type=int, default=1, help="fetch: keep every Nth step's frame (default 1)")
    p.add_argument("--fps", type=int, default=12, help="fetch: GIF frames per second (default 12)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.domain == "fetch":
        from adiff_env.cli.demo_fetch import run_fetch

        return run_fetch(args)
    args.env = args.env or DEFAULT_ENV
    args.out = args.out or DEFAULT_OUT
    args.agent = args.agent or DEFAULT_AGENT
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
