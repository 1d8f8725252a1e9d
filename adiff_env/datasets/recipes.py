"""Dataset recipes: one TOML file per shipped dataset in the top-level ``datasets/`` folder.

A recipe names everything :func:`adiff_env.datasets.collect.collect_dataset` needs to rebuild
a dataset bit for bit::

    dataset_id = "adiff/pointmaze-umaze-v0"
    env = "adiff/PointMaze-UMaze-v0"
    steps = 1_000_000
    noise = 0.5
    seed = 0
    episode_steps = 10_000      # optional, default 10,000
    expert = "reference"        # optional: "reference" (D4RL P=10, D=-1) or "tuned"
    description = "..."         # optional
    continuing = true           # optional: the mazes' continuing task (reset_target=True)
    noisy_fraction = 1.0        # optional: share of episodes with noise (< 1 labels episodes)
    episodes_per_task = 1       # optional: episodes per unit of parallel work
    [env_kwargs]                # optional: extra gym.make keywords (e.g. goal_region = "table")

Fetch recipes (``datasets/fetch-*.toml``) set ``continuing = false``, ``episode_steps = 50`` and
many ``episodes_per_task``; the expert is then the scripted Fetch expert.

Unknown keys are an error (a typo such as ``step = ...`` must not fall back to a default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from adiff_env.assets import asset_path
from adiff_env.datasets.collect import DEFAULT_EPISODE_STEPS, default_dataset_id

EXPERTS = ("reference", "tuned")


@dataclass(frozen=True)
class DatasetRecipe:
    """How one dataset is made; field names are the TOML keys."""

    env: str
    steps: int
    noise: float = 0.5
    seed: int = 0
    dataset_id: str | None = None
    episode_steps: int = DEFAULT_EPISODE_STEPS
    expert: str = "reference"
    description: str | None = None
    continuing: bool = True
    noisy_fraction: float = 1.0
    episodes_per_task: int = 1
    env_kwargs: dict | None = None

    def __post_init__(self) -> None:
        checks = {
            "env": isinstance(self.env, str) and bool(self.env),
            "steps": isinstance(self.steps, int) and not isinstance(self.steps, bool) and self.steps > 0,
            "noise": isinstance(self.noise, (int, float)) and not isinstance(self.noise, bool) and self.noise >= 0,
            "seed": isinstance(self.seed, int) and not isinstance(self.seed, bool),
            "dataset_id": self.dataset_id is None or isinstance(self.dataset_id, str),
            "episode_steps": isinstance(self.episode_steps, int) and self.episode_steps >= 2,
            "expert": self.expert in EXPERTS,
            "description": self.description is None or isinstance(self.description, str),
            "continuing": isinstance(self.continuing, bool),
            "noisy_fraction": isinstance(self.noisy_fraction, (int, float)) and not isinstance(self.noisy_fraction, bool)
            and 0.0 <= self.noisy_fraction <= 1.0,
            "episodes_per_task": isinstance(self.episodes_per_task, int) and not isinstance(self.episodes_per_task, bool)
            and self.episodes_per_task >= 1,
            "env_kwargs": self.env_kwargs is None or isinstance(self.env_kwargs, dict),
        }
        expected = {
            "env": "a registered env id string", "steps": "a positive integer",
            "noise": "a number >= 0", "seed": "an integer", "dataset_id": "a string",
            "episode_steps": "an integer >= 2", "expert": f"one of {EXPERTS}",
            "description": "a string", "continuing": "true or false", "noisy_fraction": "a number in [0, 1]",
            "episodes_per_task": "a positive integer", "env_kwargs": "a table of gym.make keywords",
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"Recipe key {key!r} must be {expected[key]}, got {getattr(self, key)!r}.")

    @property
    def resolved_dataset_id(self) -> str:
        return self.dataset_id or default_dataset_id(self.env)

    @classmethod
    def from_dict(cls, data: dict, source: str = "recipe") -> DatasetRecipe:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; allowed keys are {sorted(names)}.")
        missing = sorted(n for n in ("env", "steps") if n not in data)
        if missing:
            raise ValueError(f"{source}: missing required key(s) {missing}.")
        try:
            return cls(**data)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None


def resolve_recipe_path(name_or_path: str) -> Path:
    """A recipe given as a path (``datasets/pointmaze-umaze.toml``) or a shipped name
    (``pointmaze-umaze``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (asset_path("datasets", name_or_path), asset_path("datasets", f"{name_or_path}.toml")):
        if candidate.is_file():
            return candidate
    shipped = sorted(p.stem for p in asset_path("datasets").glob("*.toml"))
    raise FileNotFoundError(
        f"No recipe file {name_or_path!r} (looked in the current folder and in the shipped "
        f"recipes). Shipped recipes: {', '.join(shipped) or '(none)'}."
    )


def load_recipe(name_or_path: str) -> DatasetRecipe:
    """Parse a recipe TOML file into a :class:`DatasetRecipe` (validated)."""
    path = resolve_recipe_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Recipe {path} is not valid TOML: {exc}.") from None
    return DatasetRecipe.from_dict(data, source=f"recipe {path}")


def shipped_recipes() -> dict[str, DatasetRecipe]:
    """All recipes in the top-level ``datasets/`` folder, by file stem."""
    return {p.stem: load_recipe(str(p)) for p in sorted(asset_path("datasets").glob("*.toml"))}
