"""Hyperparameters shared by the offline baselines; each algorithm extends :class:`OfflineConfig`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OfflineConfig:
    """Training loop and data (common to BC, IQL, CQL).

    ``relabel_prob``/``max_goal_offset``: hindsight relabelling (``data.py``). ``hidden`` x
    ``layers``: MLP size (the papers' 256 x 2). ``lr``: Adam step size of every network unless
    the algorithm says otherwise. ``discount`` gamma, ``tau`` the Polyak rate of target critics.
    ``goal_radius``: a relabelled step pays 1 when the achieved goal is this close to the goal
    (0.5: the mazes; 0.05 for Fetch).
    """

    steps: int = 100_000
    batch_size: int = 256
    hidden: int = 256
    layers: int = 2
    lr: float = 3e-4
    discount: float = 0.99
    tau: float = 0.005
    relabel_prob: float = 0.8
    max_goal_offset: int = 300
    goal_radius: float = 0.5
    seed: int = 0
    log_every: int = 1000

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "hidden", "layers", "max_goal_offset", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be an integer >= 1, got {value!r}.")
        if not (isinstance(self.goal_radius, (int, float)) and self.goal_radius > 0):
            raise ValueError(f"goal_radius must be a number > 0, got {self.goal_radius!r}.")
        if not 0.0 <= self.relabel_prob <= 1.0:
            raise ValueError(f"relabel_prob must be in [0, 1], got {self.relabel_prob!r}.")
        if not 0.0 < self.discount < 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError(f"discount must be in (0, 1) and tau in (0, 1], got {self.discount!r}, {self.tau!r}.")
