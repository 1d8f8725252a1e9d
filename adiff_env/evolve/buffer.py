"""A fixed-capacity buffer of good, diverse items (trajectories or programs) with priorities.

Generic over *items with a reward and a distance*: an item is a numpy array, a dict of numpy
arrays (a maze rollout: ``actions [T, A]``, ``rewards [T]``, ``obs/<key> [T + 1, ...]``) or a
string (a program). Rules, applied by :meth:`TrajectoryBuffer.add`:

1. quality: an item with ``reward < min_reward`` is rejected (``add_batch`` also drops items
   below the batch's ``top_quantile`` reward quantile, e.g. 0.75 keeps the best quarter);
2. diversity: if a stored item lies closer than ``min_distance`` (by ``distance``), the new
   item replaces the nearest such item only if its reward is higher, else it is rejected;
3. capacity: when full, the new item replaces the lowest-reward item only if it is better.

Distance. A buffer measures diversity on *features*: ``features(item)`` is computed at most
once per stored item (when a distance first needs it) and kept beside it; ``distance(fa, fb)`` compares two
features (:class:`ItemMetric`). Default (:data:`TRAJECTORY_METRIC`, i.e.
:func:`trajectory_distance`): the mean Euclidean distance between the two position sequences
(first two state columns) linearly resampled to 32 points each, so paths of different lengths
compare point by point along their course; the resampled ``[32, 2]`` positions are the
features. A domain passes its own metric (code: the task id and AST node types of a program,
then a normalized edit distance). A plain ``distance(a, b)`` on items (no ``features``) still
works: the item is then its own feature.

Sampling (:meth:`sample`), over the stored items ranked by reward (rank 1 = best):
``"rank"``: ``P(i) ∝ (1 / rank_i)^alpha`` (Schaul et al. 2016); ``"proportional"``:
``P(i) ∝ (r_i - r_min + eps)^alpha``. ``alpha = 0`` is uniform. A seeded numpy generator draws.

Persistence: :meth:`save` writes ``items-<n>.npz`` (arrays) then ``buffer.json`` (config,
rewards, strings, the npz name) each via a temp file and ``os.replace``; ``buffer.json`` is
the commit point, so an interrupted save leaves the previous buffer loadable.
:meth:`to_minari` exports rollouts as a Minari dataset that trains like the offline data; a
rollout's ``infos/<key>`` arrays (one value per observation, ``[T + 1]``) become the episode's
``infos[key]`` (e.g. Fetch's ``infos/rehearsal`` label on rehearsed kept-task rollouts).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adiff_env.errors import UnknownNameError

PRIORITIES = ("rank", "proportional")
OBS_PREFIX = "obs/"
INFOS_PREFIX = "infos/"


def positions_of(item: Any) -> np.ndarray:
    """Positions ``[T, 2]`` of an item: ``obs/observation[:, :2]`` of a rollout dict, or the first
    two columns of a ``[T, D]`` array."""
    if isinstance(item, dict):
        key = OBS_PREFIX + "observation" if OBS_PREFIX + "observation" in item else "observations"
        if key not in item:
            raise ValueError(f"a dict item needs 'obs/observation' or 'observations', got keys {sorted(item)}.")
        item = item[key]
    arr = np.asarray(item, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"trajectory items must be [T, D >= 2], got shape {arr.shape}.")
    return arr[:, :2]


def _resample(p: np.ndarray, n: int) -> np.ndarray:
    s = np.linspace(0.0, len(p) - 1, n)
    return np.stack([np.interp(s, np.arange(len(p)), p[:, k]) for k in range(p.shape[1])], axis=1)


def trajectory_features(item: Any, points: int = 32) -> np.ndarray:
    """The item's positions resampled to ``points`` rows ``[points, 2]`` (the default feature)."""
    return _resample(positions_of(item), points)


def feature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean L2 distance between two resampled position sequences ``[P, 2]``."""
    return float(np.linalg.norm(a - b, axis=1).mean())


def trajectory_distance(a: Any, b: Any, points: int = 32) -> float:
    """Mean L2 distance between the position sequences of ``a`` and ``b`` resampled to ``points``."""
    return feature_distance(trajectory_features(a, points), trajectory_features(b, points))


@dataclass(frozen=True)
class ItemMetric:
    """How a buffer measures diversity: ``features(item)`` once per item, ``distance(fa, fb)``."""

    features: Callable[[Any], Any]
    distance: Callable[[Any, Any], float]


TRAJECTORY_METRIC = ItemMetric(trajectory_features, feature_distance)


def _identity(item: Any) -> Any:
    return item


_MISSING = object()  # a stored item whose features no distance has needed yet


@dataclass(frozen=True)
class BufferConfig:
    """See the module doc. ``min_reward``/``top_quantile``: quality filter (None: off);
    ``min_distance``: diversity radius (0: off); ``priority``/``alpha``: sampling; ``seed``."""

    capacity: int = 1000
    min_reward: float | None = None
    top_quantile: float | None = None
    min_distance: float = 0.0
    priority: str = "rank"
    alpha: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}.")
        if self.top_quantile is not None and not 0.0 <= self.top_quantile < 1.0:
            raise ValueError(f"top_quantile must be in [0, 1), got {self.top_quantile} (0.75 keeps the best quarter).")
        if self.min_distance < 0 or self.alpha < 0:
            raise ValueError(f"min_distance and alpha must be >= 0, got {self.min_distance}, {self.alpha}.")
        if self.priority not in PRIORITIES:
            raise UnknownNameError("priority rule", self.priority, PRIORITIES)


class TrajectoryBuffer:
    """Items with rewards under the rules of the module doc.

    Args:
        config: :class:`BufferConfig`.
        distance: ``distance(fa, fb) -> float`` on two items' features (default: the
            trajectory metric of the module doc).
        features: ``features(item)``, computed at most once per stored item (default: the
            item itself when ``distance`` is given, else the resampled positions).

    ``items``, ``rewards`` and the cached features change together through :meth:`add`; do not
    edit ``items`` in place.
    """

    def __init__(self, config: BufferConfig | None = None, distance: Callable[[Any, Any], float] | None = None, *,
                 features: Callable[[Any], Any] | None = None) -> None:
        self.config = config or BufferConfig()
        if distance is None and features is None:
            distance, features = TRAJECTORY_METRIC.distance, TRAJECTORY_METRIC.features
        self.distance = distance or feature_distance
        self.features = features or _identity
        self.items: list[Any] = []
        self.rewards: list[float] = []
        self._features: list[Any] = []
        self.rng = np.random.default_rng(self.config.seed)
        self.counts = {"added": 0, "replaced": 0, "rejected_quality": 0, "rejected_duplicate": 0, "rejected_full": 0}

    def __len__(self) -> int:
        return len(self.items)

    # ------------------------------------------------------------------ adding
    def add(self, item: Any, reward: float) -> str:
        """Apply the rules; returns ``"added"``, ``"replaced"``, ``"rejected_quality"``,
        ``"rejected_duplicate"`` or ``"rejected_full"``."""
        reward = float(reward)
        if not np.isfinite(reward):
            raise ValueError(f"item reward must be finite, got {reward}.")
        cfg = self.config
        if cfg.min_reward is not None and reward < cfg.min_reward:
            return self._count("rejected_quality")
        feature = _MISSING
        if cfg.min_distance > 0 and self.items:
            feature = self.features(item)
            dists = np.array([self.distance(feature, self._feature(j)) for j in range(len(self.items))])
            near = int(np.argmin(dists))
            if dists[near] < cfg.min_distance:
                if reward > self.rewards[near]:
                    self._put(near, item, reward, feature)
                    return self._count("replaced")
                return self._count("rejected_duplicate")
        if len(self.items) >= cfg.capacity:
            worst = int(np.argmin(self.rewards))
            if reward <= self.rewards[worst]:
                return self._count("rejected_full")
            self._put(worst, item, reward, feature)
            return self._count("replaced")
        self._append(item, reward, feature)
        return self._count("added")

    def _put(self, index: int, item: Any, reward: float, feature: Any) -> None:
        self.items[index], self.rewards[index], self._features[index] = item, reward, feature

    def _append(self, item: Any, reward: float, feature: Any = _MISSING) -> None:
        self.items.append(item)
        self.rewards.append(reward)
        self._features.append(feature)

    def _feature(self, index: int) -> Any:
        """The cached features of stored item ``index`` (computed on first use)."""
        if self._features[index] is _MISSING:
            self._features[index] = self.features(self.items[index])
        return self._features[index]

    def add_batch(self, items: Sequence[Any], rewards: Sequence[float]) -> dict[str, int]:
        """Add a batch (after the ``top_quantile`` filter); returns counts of outcomes."""
        if len(items) != len(rewards):
            raise ValueError(f"items and rewards differ in length: {len(items)} vs {len(rewards)}.")
        out: dict[str, int] = {}
        if not items:
            return out
        cut = -np.inf if self.config.top_quantile is None else float(np.quantile(rewards, self.config.top_quantile))
        for item, reward in zip(items, rewards):
            result = self.add(item, reward) if reward >= cut else self._count("rejected_quality")
            out[result] = out.get(result, 0) + 1
        return out

    def _count(self, what: str) -> str:
        self.counts[what] += 1
        return what

    # ------------------------------------------------------------------ sampling and stats
    def probabilities(self) -> np.ndarray:
        """Sampling probabilities ``[N]`` of the stored items (module doc)."""
        r = np.asarray(self.rewards, dtype=np.float64)
        if len(r) == 0:
            raise ValueError("the buffer is empty; add items before sampling.")
        if self.config.priority == "rank":
            ranks = np.empty(len(r))
            ranks[np.argsort(-r, kind="stable")] = np.arange(1, len(r) + 1)
            w = ranks ** -self.config.alpha
        else:
            w = (r - r.min() + 1e-6) ** self.config.alpha
        return w / w.sum()

    def sample(self, n: int) -> np.ndarray:
        """``n`` item indices drawn with replacement by priority."""
        return self.rng.choice(len(self.items), size=n, replace=True, p=self.probabilities())

    def stats(self, max_pairs: int = 200) -> dict[str, Any]:
        """``size``, ``capacity``, reward ``min/q25/median/q75/max/mean`` and ``diversity`` (mean
        pairwise distance over at most ``max_pairs`` pairs drawn with a fixed seed)."""
        out: dict[str, Any] = {"size": len(self), "capacity": self.config.capacity, **self.counts}
        if not self.items:
            return out
        r = np.asarray(self.rewards)
        q = np.quantile(r, [0.0, 0.25, 0.5, 0.75, 1.0])
        out.update(reward_min=q[0], reward_q25=q[1], reward_median=q[2], reward_q75=q[3], reward_max=q[4], reward_mean=r.mean())
        if len(self) > 1:
            rng = np.random.default_rng(0)
            pairs = [tuple(rng.choice(len(self), 2, replace=False)) for _ in range(max_pairs)]
            out["diversity"] = float(np.mean([self.distance(self._feature(i), self._feature(j)) for i, j in pairs]))
        return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the buffer into ``folder`` atomically (module doc); returns ``buffer.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = json.loads((folder / "buffer.json").read_text())["generation"] + 1 if (folder / "buffer.json").exists() else 0
        arrays: dict[str, np.ndarray] = {}
        records: list[Any] = []
        for i, item in enumerate(self.items):
            if isinstance(item, str):
                records.append({"type": "str", "text": item})
            elif isinstance(item, dict):
                records.append({"type": "dict", "keys": sorted(item)})
                arrays.update({f"{i}|{k}": np.asarray(v) for k, v in item.items()})
            else:
                records.append({"type": "array"})
                arrays[str(i)] = np.asarray(item)
        npz = f"items-{index}.npz"
        _atomic_write(folder / npz, lambda fh: np.savez(fh, **arrays))
        state = {"generation": index, "arrays": npz, "config": dataclasses.asdict(self.config), "rewards": self.rewards,
                 "items": records, "counts": self.counts, "rng": self.rng.bit_generator.state}
        _atomic_write(folder / "buffer.json", lambda fh: fh.write(json.dumps(state).encode()))
        for old in folder.glob("items-*.npz"):
            if old.name != npz:
                old.unlink(missing_ok=True)
        return folder / "buffer.json"

    @classmethod
    def load(cls, folder: str | os.PathLike, distance: Callable[[Any, Any], float] | None = None, *,
             features: Callable[[Any], Any] | None = None) -> TrajectoryBuffer:
        """Read a buffer written by :meth:`save` (``distance``/``features`` as in the constructor)."""
        folder = Path(folder)
        path = folder / "buffer.json"
        if not path.is_file():
            raise FileNotFoundError(f"no buffer at {folder} (missing buffer.json).")
        state = json.loads(path.read_text())
        buf = cls(BufferConfig(**state["config"]), distance, features=features)
        with np.load(folder / state["arrays"]) as data:
            for i, (rec, reward) in enumerate(zip(state["items"], state["rewards"], strict=True)):
                if rec["type"] == "str":
                    item: Any = rec["text"]
                elif rec["type"] == "dict":
                    item = {k: data[f"{i}|{k}"] for k in rec["keys"]}
                else:
                    item = data[str(i)]
                buf._append(item, float(reward))
        buf.counts.update(state["counts"])
        buf.rng.bit_generator.state = state["rng"]
        return buf

    def to_minari(self, dataset_id: str, env: Any, *, overwrite: bool = True, description: str = "") -> Any:
        """Export rollout items (dicts with ``actions``, ``rewards``, ``obs/<key>``) as the Minari
        dataset ``dataset_id`` with ``env``'s spaces, built in a staging folder and swapped into
        place; returns the loaded ``MinariDataset``. Keys ``infos/<key>`` become the episode's
        ``infos[key]``; every item must carry the same ones (ValueError otherwise)."""
        import minari
        from minari.data_collector import EpisodeBuffer

        from adiff_env.datasets.collect import _ensure_namespace, _minari_root, _swap_into_place, datasets_root

        if not self.items or not all(isinstance(i, dict) and "actions" in i for i in self.items):
            raise ValueError("to_minari needs a non-empty buffer of rollout dicts (actions, rewards, obs/<key>).")
        keys = list(getattr(env.observation_space, "spaces", {}) or [])
        info_keys = [sorted(k for k in item if k.startswith(INFOS_PREFIX)) for item in self.items]
        if any(k != info_keys[0] for k in info_keys):
            odd = next(i for i, k in enumerate(info_keys) if k != info_keys[0])
            raise ValueError(f"to_minari: every item needs the same infos/<key> entries; item 0 has {info_keys[0]}, "
                             f"item {odd} has {info_keys[odd]}.")
        buffers = []
        for n, item in enumerate(self.items):
            obs = {k: item[OBS_PREFIX + k] for k in keys} if keys else item[OBS_PREFIX + "observation"]
            t = len(item["actions"])
            term = np.zeros(t, dtype=bool)
            trunc = np.zeros(t, dtype=bool)
            trunc[-1] = True
            buffers.append(EpisodeBuffer(id=n, observations=obs, actions=np.asarray(item["actions"], dtype=np.float32),
                                         rewards=np.asarray(item["rewards"], dtype=np.float64), terminations=term,
                                         truncations=trunc,
                                         infos={k.removeprefix(INFOS_PREFIX): np.asarray(item[k]) for k in info_keys[0]}))
        root = datasets_root()
        final = root / dataset_id
        if final.exists() and not overwrite:
            raise FileExistsError(f"dataset {dataset_id!r} exists at {final}; pass overwrite=True.")
        staging = Path(tempfile.mkdtemp(prefix=".adiff-staging-", dir=root))
        try:
            with _minari_root(staging):
                minari.create_dataset_from_buffers(
                    dataset_id, buffers, env=env, eval_env=getattr(env, "spec", None), algorithm_name="adiff-env self-evolution buffer", author="adiff-env",
                    author_email="adiff-env@users.noreply.github.com", code_permalink="adiff-env",
                    description=description or f"{len(buffers)} filtered, executed planner rollouts (self-evolution buffer).",
                )
            namespace = dataset_id.split("/")[0] if "/" in dataset_id else None
            if namespace:
                _ensure_namespace(namespace)
            _swap_into_place(staging / dataset_id, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return minari.load_dataset(dataset_id)


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
