"""Horizon-length training windows over a Minari dataset, as a ``torch.utils.data.Dataset``.

Storage. All episodes are concatenated once into one float32 array ``[N, A + O]`` (actions
first, then observations, Diffuser's layout; ``N`` = total steps, the final observation of each
episode dropped) plus per-episode offsets. A window is a row ``(episode, start, goal_index)``
of an int32 index table, never a copy: for 1M PointMaze steps that is 24 MB of data plus 12 MB
of indices (``benchmarks/bench_datasets.py`` measures the RSS).

Items. ``dataset[i]`` is a :class:`Segment` of normalized tensors:

- ``trajectories``: ``[H, A + O]``; row ``t`` is ``(a_t, s_t)`` for ``t < j``;
- ``start``: ``[O]`` = ``trajectories[0, A:]`` (the state to inpaint at index 0);
- ``goal``: ``[O]`` = ``trajectories[j, A:]`` (the state to inpaint at index ``j``);
- ``goal_index``: int64 scalar ``j``.

Goal modes (``goal_mode``):

- ``"none"`` (Diffuser): plain windows ``s_start .. s_{start+H-1}`` inside one episode; ``j = H-1``.
- ``"events"``: windows that reach a goal of the data at index ``j`` (the step at which the
  continuing task drew a new goal, i.e. the point came within 0.45 of it) and then *rest
  there*: rows ``j .. H-1`` hold the resting state (position, zero velocity) and zero actions.
  The planner can then inpaint the goal at index ``j`` and at every later index and stay in
  distribution (the planner issue measured that always-last-index goals fail when replanning).
  ``pad_position="achieved"`` rests at the point's position at step ``j`` (continuous path);
  ``"goal"`` at the goal itself (a jump of up to 0.45).
- ``"hindsight"``: the same construction with ``j`` drawn uniformly from
  ``[min_goal_index, H-1]`` per window (seeded, fixed at construction), resting where the point
  was at step ``j``: goal-reaching segments to anywhere, not only to the data's goals.
  With ``goal_above = (d, z)`` the draw is uniform over the steps of that range whose state dim
  ``d`` is above ``z`` (Fetch's self-generated air episodes: the block's height above the table
  plus a margin, so no window's goal is the block still on the table); a start with no such
  step in its range yields no window. The window itself may start anywhere (the approach).
  With ``goal_above_exempt = KEY`` too, episodes labelled ``infos[KEY]`` (any nonzero value)
  keep the plain draw (any step): Fetch's rehearsed *table* rollouts, whose goals lie on the
  table, sit in the same buffer as the air episodes.

Resting rows (the goal modes, rows ``j .. H-1``): the state dims ``rest_keep_dims`` keep their
value at step ``j``, every other state dim and every action is zero. Default (``rest_keep_dims =
None``): the first ``position_dims`` dims, the maze's rule for ``[x, y, vx, vy]`` (positions kept,
velocities zeroed). A task whose other dims are free at acting time (Fetch: only the block is
pinned) keeps them all, ``rest_keep_dims = range(O)``: the world frozen at step ``j``.

Windows never cross an episode boundary: rows ``< j`` (all rows in ``"none"``) are steps of one
episode, and ``j`` is at most the episode's last kept step (Fetch: many 50-step episodes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from adiff_env.datasets.filters import check_max_noise_std, keep_episode
from adiff_env.datasets.normalizers import Normalizer, fit_normalizer
from adiff_env.errors import UnknownNameError

GOAL_MODES = ("none", "events", "hindsight")
PAD_POSITIONS = ("achieved", "goal")


class Segment(NamedTuple):
    """One training window (``torch.utils.data.default_collate`` stacks these into a batch)."""

    trajectories: torch.Tensor  # [H, A + O] float32, normalized, actions first
    start: torch.Tensor  # [O] normalized state at index 0
    goal: torch.Tensor  # [O] normalized state at index goal_index
    goal_index: torch.Tensor  # int64 scalar j, 1 <= j <= H - 1


class SegmentDataset(torch.utils.data.Dataset):
    """Windows of ``horizon`` steps over a Minari dataset; see the module docstring.

    Args:
        source: a Minari dataset id (loaded with ``minari.load_dataset``) or a ``MinariDataset``.
        horizon: window length ``H`` (>= 2).
        normalizer: ``"minmax"`` (to [-1, 1], default), ``"gaussian"``, a fitted normalizer
            over ``A + O`` dims (e.g. a training run's, loaded from JSON), or None (raw data).
        goal_mode: ``"none"``, ``"events"`` or ``"hindsight"``.
        stride: distance between consecutive window starts (1 = every start).
        min_goal_index: smallest ``j`` in the goal modes (>= 1).
        pad_position: ``"achieved"`` or ``"goal"`` (events mode only).
        position_dims: leading observation entries that are positions (PointMaze: 2).
        rest_keep_dims: state dims kept at their step-``j`` value in resting rows (None: the
            first ``position_dims``); the other state dims and the actions rest at zero.
        seed: seeds the hindsight ``j`` draws.
        obs_key / goal_key: keys of a dict observation space (PointMaze: ``observation`` and
            ``desired_goal``); ignored for array observations (goal_mode ``"events"`` needs them).
        max_noise_std: keep only the episodes recorded with at most this action noise
            (``infos["noise_std"]``, :func:`adiff_env.datasets.filters.keep_episode`; 0.0: clean
            only); None (default) keeps every episode.
        goal_above: ``(state dim, value)``: hindsight goal indices only at steps whose raw
            state dim is above the value (module doc; None: any step).
        goal_above_exempt: an ``infos`` key; episodes whose ``infos[key]`` has a nonzero value
            take goals at any step despite ``goal_above`` (needs ``goal_above``; unlabelled
            episodes are not exempt).
    """

    def __init__(
        self,
        source: Any,
        horizon: int,
        *,
        normalizer: str | Normalizer | None = "minmax",
        goal_mode: str = "none",
        stride: int = 1,
        min_goal_index: int = 1,
        pad_position: str = "achieved",
        position_dims: int = 2,
        rest_keep_dims: tuple[int, ...] | list[int] | None = None,
        seed: int = 0,
        obs_key: str = "observation",
        goal_key: str = "desired_goal",
        max_noise_std: float | None = None,
        goal_above: tuple[int, float] | None = None,
        goal_above_exempt: str | None = None,
    ) -> None:
        for name, value, low in (("horizon", horizon, 2), ("stride", stride, 1),
                                 ("min_goal_index", min_goal_index, 1), ("position_dims", position_dims, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if goal_mode not in GOAL_MODES:
            raise UnknownNameError("goal mode", goal_mode, GOAL_MODES)
        check_max_noise_std(max_noise_std)
        if pad_position not in PAD_POSITIONS:
            raise UnknownNameError("pad position", pad_position, PAD_POSITIONS)
        if goal_mode != "none" and min_goal_index > horizon - 1:
            raise ValueError(f"min_goal_index ({min_goal_index}) must be <= horizon - 1 ({horizon - 1}).")
        self.horizon, self.goal_mode, self.pad_position = horizon, goal_mode, pad_position
        self.position_dims = position_dims
        dataset = _load(source)
        self.dataset_id = getattr(dataset, "id", None) or getattr(dataset.spec, "dataset_id", None)
        need_goals = goal_mode == "events"
        if goal_above_exempt is not None and goal_above is None:
            raise ValueError(f"goal_above_exempt={goal_above_exempt!r} exempts episodes from goal_above; set goal_above too.")
        flat = _flatten(dataset, obs_key, goal_key, need_goals, max_noise_std, goal_above_exempt)
        self._data, self._offsets, self._lengths, goals, events, self.action_dim, self._exempt = flat
        self.goal_above_exempt = goal_above_exempt
        self.observation_dim = int(self._data.shape[1] - self.action_dim)
        if position_dims > self.observation_dim:
            raise ValueError(f"position_dims ({position_dims}) exceeds the observation size {self.observation_dim}.")
        if rest_keep_dims is None:
            keep = list(range(position_dims))
        else:
            keep = [int(d) for d in rest_keep_dims]
            bad = [d for d in keep if not 0 <= d < self.observation_dim]
            if bad or len(set(keep)) != len(keep):
                raise ValueError(f"rest_keep_dims {tuple(rest_keep_dims)} must be distinct state dims in "
                                 f"[0, {self.observation_dim}); bad: {bad or 'duplicates'}.")
        self.rest_keep_dims: tuple[int, ...] = tuple(keep)
        if goal_above is not None:
            if goal_mode != "hindsight":
                raise ValueError(f"goal_above needs goal_mode='hindsight', got {goal_mode!r}.")
            dim, value = int(goal_above[0]), float(goal_above[1])
            if not 0 <= dim < self.observation_dim:
                raise ValueError(f"goal_above dim {dim} must be a state dim in [0, {self.observation_dim}).")
            goal_above = (dim, value)
        self.goal_above = goal_above
        self._goals = goals if pad_position == "goal" and need_goals else None
        self._indices = self._build_indices(events, stride, min_goal_index, seed)
        if len(self._indices) == 0:
            raise ValueError(
                f"No window fits: horizon {horizon}, goal_mode {goal_mode!r}, longest episode "
                f"{int(self._lengths.max()) if len(self._lengths) else 0} steps. Use a shorter horizon "
                "or longer episodes."
            )
        if isinstance(normalizer, str):
            normalizer = fit_normalizer(normalizer, self._data)
        if normalizer is not None:
            normalizer.normalize(self._data[:1])  # raises if the dimensions do not match
        self.normalizer: Normalizer | None = normalizer

    @property
    def transition_dim(self) -> int:
        """``A + O``: the width of a trajectory row."""
        return int(self._data.shape[1])

    @property
    def indices(self) -> np.ndarray:
        """Read-only int32 table ``[num_windows, 3]`` of ``(episode, start, goal_index)``."""
        view = self._indices.view()
        view.flags.writeable = False
        return view

    @property
    def num_episodes(self) -> int:
        return len(self._offsets)

    @property
    def nbytes(self) -> int:
        """Bytes held in arrays (data + index table + offsets + goal positions)."""
        extra = 0 if self._goals is None else self._goals.nbytes
        return self._data.nbytes + self._indices.nbytes + self._offsets.nbytes + self._lengths.nbytes + extra

    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        norm = None if self.normalizer is None else self.normalizer.kind
        return (f"SegmentDataset({self.dataset_id!r}, horizon={self.horizon}, windows={len(self)}, "
                f"goal_mode={self.goal_mode!r}, normalizer={norm!r}, A={self.action_dim}, O={self.observation_dim})")

    def raw_window(self, index: int) -> tuple[np.ndarray, int]:
        """Unnormalized ``[H, A + O]`` float32 window and its goal index ``j``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} windows")
        episode, start, j = (int(v) for v in self._indices[index])
        offset = int(self._offsets[episode]) + start
        if self.goal_mode == "none":
            return self._data[offset: offset + self.horizon], j
        window = np.zeros((self.horizon, self.transition_dim), dtype=np.float32)
        window[:j] = self._data[offset: offset + j]
        a, p = self.action_dim, self.position_dims
        if self._goals is not None:
            window[j:, a: a + p] = self._goals[offset + j, :p]
        else:
            cols = [a + d for d in self.rest_keep_dims]
            window[j:, cols] = self._data[offset + j, cols]
        return window, j

    def __getitem__(self, index: int) -> Segment:
        window, j = self.raw_window(index)
        if self.normalizer is not None:
            window = self.normalizer.normalize(window)
        traj = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))
        a = self.action_dim
        return Segment(traj, traj[0, a:].clone(), traj[j, a:].clone(), torch.tensor(j, dtype=torch.int64))

    def split(self, trajectories: Any) -> tuple[Any, Any]:
        """``[..., H, A + O]`` -> actions ``[..., H, A]``, observations ``[..., H, O]``."""
        return trajectories[..., : self.action_dim], trajectories[..., self.action_dim:]

    def _build_indices(self, events: list[np.ndarray] | None, stride: int, min_j: int, seed: int) -> np.ndarray:
        H, rows = self.horizon, []
        rng = np.random.default_rng(seed)
        for episode, length in enumerate(self._lengths):
            length = int(length)
            if self.goal_mode == "none":
                starts = np.arange(0, length - H + 1, stride)
                js = np.full(len(starts), H - 1)
            elif self.goal_mode == "events":
                ev = events[episode]
                starts = np.arange(0, length, stride)
                pos = np.searchsorted(ev, starts + min_j)
                ok = pos < len(ev)
                starts, pos = starts[ok], pos[ok]
                js = ev[pos] - starts
                keep = js <= H - 1
                starts, js = starts[keep], js[keep]
            elif self.goal_above is None or self._exempt[episode]:  # hindsight: j uniform in [min_j, min(H-1, length-1-start)]
                starts = np.arange(0, max(length - min_j, 0), stride)
                high = np.minimum(H - 1, length - 1 - starts)
                js = min_j + np.floor(rng.random(len(starts)) * (high - min_j + 1)).astype(np.int64)
            else:  # hindsight, j uniform over the allowed steps of that range
                starts, js = self._allowed_goals(episode, length, stride, min_j, rng)
            rows.append(np.stack([np.full(len(starts), episode), starts, js], axis=1))
        if not rows:
            return np.zeros((0, 3), dtype=np.int32)
        return np.concatenate(rows).astype(np.int32)


    def _allowed_goals(self, episode: int, length: int, stride: int, min_j: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Starts and goal indices of one episode with ``goal_above``: ``j`` uniform over the
        steps ``start + j`` (``min_j <= j <= min(H-1, length-1-start)``) whose dim is above."""
        assert self.goal_above is not None
        dim, value = self.goal_above
        offset = int(self._offsets[episode])
        ok = self._data[offset: offset + length, self.action_dim + dim] > value
        steps = np.flatnonzero(ok)  # allowed absolute steps, sorted
        starts = np.arange(0, max(length - min_j, 0), stride)
        high = np.minimum(self.horizon - 1, length - 1 - starts)
        lo = np.searchsorted(steps, starts + min_j, side="left")
        hi = np.searchsorted(steps, starts + high, side="right")
        count = hi - lo
        has = count > 0
        starts, lo, count = starts[has], lo[has], count[has]
        pick = lo + np.floor(rng.random(len(starts)) * count).astype(np.int64)
        return starts, steps[pick] - starts


def _load(source: Any) -> Any:
    if isinstance(source, str):
        import minari

        local = minari.list_local_datasets()
        if source not in local:
            raise UnknownNameError("dataset id", source, local)
        return minari.load_dataset(source)
    if not hasattr(source, "iterate_episodes"):
        raise TypeError(f"source must be a Minari dataset id or a MinariDataset, got {type(source).__name__}.")
    return source


def _flatten(dataset: Any, obs_key: str, goal_key: str, need_events: bool, max_noise_std: float | None = None,
             exempt_key: str | None = None):
    """Concatenate episodes: data ``[N, A+O]`` float32, offsets/lengths ``[E]`` int64, goals
    ``[N, G]`` float32 (or None), per-episode goal-event step indices (or None), ``A``, and
    per-episode flags ``[E]`` bool: whether ``infos[exempt_key]`` has a nonzero value."""
    rows, goals, events, lengths, exempt = [], [], [], [], []
    for episode in dataset.iterate_episodes():
        if not keep_episode(episode, max_noise_std):
            continue
        infos = getattr(episode, "infos", None)
        exempt.append(bool(exempt_key is not None and isinstance(infos, dict) and exempt_key in infos
                           and np.any(np.asarray(infos[exempt_key]))))
        obs = episode.observations
        if isinstance(obs, dict):
            if obs_key not in obs:
                raise ValueError(f"Observation key {obs_key!r} not in the dataset's keys {sorted(obs)}.")
            state = obs[obs_key]
        else:
            state = obs
            if need_events:
                raise ValueError("goal_mode='events' needs dict observations with a goal key (GoalEnv data).")
        actions = np.asarray(episode.actions, dtype=np.float32).reshape(len(episode.actions), -1)
        T = len(actions)
        state = np.asarray(state, dtype=np.float32).reshape(T + 1, -1)[:T]
        rows.append(np.concatenate([actions, state], axis=1))
        lengths.append(T)
        if need_events:
            if goal_key not in obs:
                raise ValueError(f"Goal key {goal_key!r} not in the dataset's keys {sorted(obs)}.")
            desired = np.asarray(obs[goal_key], dtype=np.float32).reshape(T + 1, -1)
            changed = np.any(desired[1:] != desired[:-1], axis=1)  # k: goal reached at step k
            events.append(np.flatnonzero(changed))
            goals.append(desired[:T])
    if not rows:
        raise ValueError(f"The dataset has no episodes (max_noise_std={max_noise_std}).")
    data = np.concatenate(rows)
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64)
    action_dim = int(rows[0].shape[1] - state.shape[1])
    goal_arr = np.concatenate(goals) if need_events else None
    return (data, offsets, lengths_arr, goal_arr, (events if need_events else None), action_dim,
            np.asarray(exempt, dtype=bool))
