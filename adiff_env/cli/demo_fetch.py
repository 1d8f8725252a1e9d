"""``adiff demo fetch``: one Fetch episode rendered headless, saved as a GIF or a PNG strip.

The env is made with ``render_mode="rgb_array"``; ``MUJOCO_GL`` defaults to ``egl`` (headless)
when unset. The agent is any agent spec (default the scripted expert); a bare ``bc``, ``iql``,
``sac-her``, ``planner`` or ``chunk`` names that kind's checkpoint for the env's task, as on
``adiff bench fetch``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from adiff_env.cli._common import CLIError, check_env_id

DEFAULT_ENV = "adiff/FetchPush-v0"
DEFAULT_OUT = Path("out") / "demo-fetch.gif"
DEFAULT_AGENT = "expert"
CAMERA = {"distance": 1.3, "azimuth": 150.0, "elevation": -25.0, "lookat": [1.3, 0.75, 0.5]}
"""Closer than Fetch's own view (distance 2.5): the table, the block and the goal fill the frame."""


def run_fetch(args: argparse.Namespace) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo loads: headless rendering
    import gymnasium as gym

    from adiff_env.agents import make_agent
    from adiff_env.bench.runner import cell_agent, missing_checkpoint, train_hint
    from adiff_env.bench.suites import FETCH, split_env_name
    from adiff_env.manipulation import is_fetch_env
    from adiff_env.manipulation.demo import FORMATS, record_episode, save_frames

    env_name = args.env or DEFAULT_ENV
    out = args.out or DEFAULT_OUT
    label = args.agent or DEFAULT_AGENT
    if out.suffix.lower() not in FORMATS:
        raise CLIError(f"--out must name a .gif or .png file, got {str(out)!r}.")
    for flag, value in (("--size", args.size), ("--frame-every", args.frame_every), ("--fps", args.fps)):
        if value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}.")
    env_id, env_kwargs = split_env_name(env_name)
    check_env_id(env_id)
    suite_env = env_name if env_name in FETCH.tasks else next((e for e in FETCH.envs if split_env_name(e)[0] == env_id), env_name)
    agent = cell_agent("fetch", label, suite_env)
    why = missing_checkpoint(agent)
    if why is not None:
        hint = train_hint("fetch", label, suite_env)
        raise CLIError(f"agent {label!r} ({agent.spec}) is not available: {why}" + (f"\n  make it: {hint}" if hint else ""))
    env = gym.make(env_id, render_mode="rgb_array", width=args.size, height=args.size,
                   default_camera_config=CAMERA, **env_kwargs)
    try:
        if not is_fetch_env(env):
            raise CLIError(f"adiff demo fetch renders Fetch envs; {env_id!r} is not one (try {DEFAULT_ENV}).")
        actor = make_agent(agent.spec, env, agent.options or None)
        episode = record_episode(env, actor, seed=args.seed, frame_every=args.frame_every)
    finally:
        env.close()
    path = save_frames(episode.frames, out, fps=args.fps)
    zone = "" if episode.zone_steps is None else f", {episode.zone_steps} steps in the zone"
    print(f"saved {path} ({len(episode.frames)} frames; {label} on {env_name}, seed {args.seed}: return "
          f"{episode.episode_return:.1f}, success at the last step {episode.success}, ever {episode.ever_success}{zone})")
    return 0
