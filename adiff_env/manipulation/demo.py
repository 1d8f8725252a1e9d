"""One Fetch episode as pictures: frames rendered headless, saved as an animated GIF or a PNG strip.

``record_episode(env, agent, seed)`` rolls ``agent`` for one episode in an env made with
``render_mode="rgb_array"`` (headless with ``MUJOCO_GL=egl``) and returns an
:class:`EpisodeFrames`: the rendered frames ``[T + 1, H, W, 3]`` uint8 (the reset frame, then one
per step, every ``frame_every``-th kept), the return, final-step and ever success, steps, and on
forbidden-zone envs the steps with the block inside the zone. ``save_frames(frames, path)``
writes ``.gif`` (Pillow, which matplotlib already needs) or ``.png`` (a strip of at most
``strip_frames`` evenly spaced frames side by side), atomically.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = (".gif", ".png")


@dataclass
class EpisodeFrames:
    """Frames ``[N, H, W, 3]`` uint8 and what the episode did (module doc)."""

    frames: np.ndarray
    episode_return: float
    success: bool
    ever_success: bool
    steps: int
    zone_steps: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


def record_episode(env: Any, agent: Any, seed: int = 0, frame_every: int = 1) -> EpisodeFrames:
    """Roll ``agent`` for one episode (reset seed ``seed``) and render it (module doc)."""
    if isinstance(frame_every, bool) or not isinstance(frame_every, int) or frame_every < 1:
        raise ValueError(f"frame_every must be an integer >= 1, got {frame_every!r}.")
    if getattr(env, "render_mode", None) != "rgb_array":
        raise ValueError(f"record_episode needs an env made with render_mode='rgb_array', got {env.render_mode!r}.")
    obs, info = env.reset(seed=seed)
    frames = [np.asarray(env.render())]
    total, steps, ever, success, zone = 0.0, 0, False, False, None
    state, start = None, True
    while True:
        action, state = agent.predict(obs, state=state, episode_start=start, deterministic=True)
        start = False
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        success = bool(info.get("is_success", info.get("success", False)))
        ever = ever or success
        if "in_zone" in info:
            zone = (zone or 0) + int(bool(info["in_zone"]))
        if steps % frame_every == 0 or terminated or truncated:
            frames.append(np.asarray(env.render()))
        if terminated or truncated:
            break
    return EpisodeFrames(np.stack(frames).astype(np.uint8), total, success, ever, steps, zone)


def save_frames(frames: np.ndarray, path: str | Path, fps: int = 12, strip_frames: int = 8) -> Path:
    """Write ``frames [N, H, W, 3]`` as an animated GIF (``.gif``) or a PNG strip (``.png``)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"the picture must be a .gif or .png file, got {str(path)!r}.")
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
        raise ValueError(f"frames must have shape [N, H, W, 3] with N >= 1, got {arr.shape}.")
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be an integer >= 1, got {fps!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        if path.suffix.lower() == ".gif":
            images = [Image.fromarray(f) for f in arr.astype(np.uint8)]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        else:
            pick = np.unique(np.linspace(0, len(arr) - 1, min(strip_frames, len(arr))).round().astype(int))
            Image.fromarray(np.concatenate(list(arr[pick].astype(np.uint8)), axis=1)).save(tmp, format="PNG")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a picture is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
