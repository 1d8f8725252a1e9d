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

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adiff_env import config
from adiff_env.assets import asset_path
from adiff_env.datasets.collect import DEFAULT_EPISODE_STEPS, default_dataset_id
from adiff_env.errors import ConfigError, MissingResourceError

EXPERTS = ("reference", "tuned")


@dataclass(frozen=True)
class DatasetRecipe:
    """How one dataset is made; field names are the TOML keys."""

    env: str  # environment id, e.g. adiff/PointMaze-UMaze-v0
    steps: int  # number of steps to record
    noise: float = 0.5  # Gaussian action noise std (D4RL: 0.5)
    seed: int = 0  # master seed; episode i uses SeedSequence([seed, i])
    dataset_id: str | None = None  # Minari id NAMESPACE/NAME-vN (default from the env id)
    episode_steps: int = DEFAULT_EPISODE_STEPS  # time limit per episode
    expert: str = "reference"  # reference (D4RL's waypoint controller) or tuned
    description: str | None = None  # dataset description stored in its metadata
    continuing: bool = True  # a continuing task (a new goal each time one is reached; the mazes)
    noisy_fraction: float = 1.0  # share of episodes driven with the noise (the rest noise-free)
    episodes_per_task: int = 1  # episodes per collection task (Fetch: many 50-step episodes)
    env_kwargs: dict | None = None  # extra gym.make keywords (e.g. goal_region = "table")

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
        return config.from_dict(cls, data, source)


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
    raise MissingResourceError(
        f"No recipe file {name_or_path!r} (looked in the current folder and in the shipped "
        f"recipes). Shipped recipes: {', '.join(shipped) or '(none)'}."
    )


def load_recipe(name_or_path: str) -> DatasetRecipe:
    """Parse a recipe TOML file into a :class:`DatasetRecipe` (validated)."""
    path = resolve_recipe_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Recipe {path} is not valid TOML: {exc}.") from None
    return DatasetRecipe.from_dict(data, source=f"recipe {path}")


def shipped_recipes() -> dict[str, DatasetRecipe]:
    """All recipes in the top-level ``datasets/`` folder, by file stem."""
    return {p.stem: load_recipe(str(p)) for p in sorted(asset_path("datasets").glob("*.toml"))}


def local_dataset_ids() -> set[str]:
    """Ids of the Minari datasets in ``$MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``)."""
    import minari

    return set(minari.list_local_datasets())


def recipe_for(dataset_id: str) -> tuple[str, DatasetRecipe] | None:
    """``(shipped name, recipe)`` of the shipped recipe that makes ``dataset_id``, or None."""
    for name, recipe in shipped_recipes().items():
        if recipe.resolved_dataset_id == dataset_id:
            return name, recipe
    return None


def ensure_dataset(dataset_id: str, collect: bool = True, progress: bool = True, *, recipe: str | None = None,
                   workers: int | None = None, log: Callable[[str], None] = print) -> str:
    """Make sure the Minari dataset ``dataset_id`` is on disk before a long command starts.

    Present: returns at once. Missing and a recipe makes it (``recipe``: a path or shipped
    name; default: the shipped recipe whose ``dataset_id`` matches): with ``collect`` it is
    collected now (a message, then a progress bar), else
    :class:`~adiff_env.errors.MissingResourceError` names the exact command that collects it.
    Missing and no recipe: the error says how to collect one by hand. Returns ``dataset_id``."""
    import os

    if dataset_id in local_dataset_ids():
        return dataset_id
    where = os.environ.get("MINARI_DATASETS_PATH") or "~/.minari/datasets"
    if recipe is not None:
        found: tuple[str, DatasetRecipe] | None = (recipe, load_recipe(recipe))
        if found[1].resolved_dataset_id != dataset_id:
            raise ConfigError(f"recipe {recipe} makes {found[1].resolved_dataset_id!r}, not {dataset_id!r}.")
    else:
        found = recipe_for(dataset_id)
    if found is None:
        raise MissingResourceError(
            f"Dataset {dataset_id!r} is not in {where} and no shipped recipe (datasets/*.toml) makes it. "
            f"Collect it with `uv run adiff datasets collect ENV_ID --steps N --dataset-id {dataset_id}` "
            f"(local datasets: `uv run adiff datasets list`).")
    name, rec = found
    command = f"uv run adiff datasets collect --recipe {name}"
    if not collect:
        raise MissingResourceError(f"Dataset {dataset_id!r} is not in {where}. Collect it with `{command}` "
                                   f"({rec.steps:,} steps of {rec.env}), or drop --no-collect to collect it now.")
    from adiff_env.datasets.collect import collect_dataset

    log(f"Dataset {dataset_id!r} is not in {where}; collecting it now from recipe {name} "
        f"({rec.steps:,} steps of {rec.env}; same as `{command}`).")
    collect_dataset(rec.env, rec.steps, noise_std=rec.noise, seed=rec.seed, dataset_id=dataset_id,
                    episode_steps=rec.episode_steps, tuned_expert=rec.expert == "tuned",
                    workers=workers or min(4, os.cpu_count() or 1), description=rec.description, progress=progress)
    return dataset_id
