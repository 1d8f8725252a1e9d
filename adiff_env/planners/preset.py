"""Planner presets: one TOML file per env in the top-level ``planners/`` folder.

A preset is the whole config of a trajectory planner — data, network, diffusion, training and
acting — as nested dataclasses (constructor arguments are the config; no class paths, no
pickles). ``load_preset("planners/pointmaze-umaze.toml")`` or ``load_preset("pointmaze-umaze")``.
The acting section is saved with the checkpoint and can be overridden at evaluation time.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adiff_env import config
from adiff_env.assets import asset_root
from adiff_env.errors import ConfigError, MissingResourceError, UnknownNameError

ACTION_RULES = ("pd", "inverse-dynamics", "plan")
DEADLINE_RULES = ("geodesic", "horizon")
RANK_RULES = ("free-cells", "smoothness", "progress", "arrival")
ROUTE_RULES = ("reward", "shortest")
GUIDANCE_METHODS = ("xt", "dps", "x0")  # = adiff_env.diffusion.guidance.GUIDANCE_METHODS (a test keeps them equal; no torch here)
ACCELERATIONS = ("none", "trace")  # = adiff_env.diffusion.inference.ACCELERATIONS (a test keeps them equal)
AMP_MODES = ("none", "bf16")
DDP_NOISE = ("global", "rank")


@dataclass(frozen=True)
class DataConfig:
    """Training windows (see :class:`adiff_env.datasets.segments.SegmentDataset`).

    ``rest_keep_dims``: state dims that keep their step-``j`` value in the resting rows of the
    goal modes (the rest rests at zero); omitted (None): the first two (the maze's positions,
    velocities zeroed). Fetch keeps all 25 (the world frozen at ``j``): acting pins only the
    block there, so the other dims must stay plausible, not zero. ``max_noise_std``: train only
    on episodes recorded with at most this action noise (0.0: clean only; None: all)."""

    horizon: int = 128
    goal_mode: str = "hindsight"
    min_goal_index: int = 8
    normalizer: str = "minmax"
    stride: int = 1
    rest_keep_dims: tuple[int, ...] | None = None
    max_noise_std: float | None = None


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule and training objective; ``action_weight`` scales the loss on actions.

    ``global_cond``: besides inpainting, give the denoiser the start state, the goal position
    and the goal index ``j / H`` as a global condition vector (``cond_dim = O + 3``). Measured
    on U-Maze: with inpainting alone a 6k-step model's plans jumped ~2 units between index 0
    and 1 (it ignored the pinned start), so open-loop plans were infeasible.

    ``state_weights``: one loss weight per state dim ``[O]`` (empty, the default: all 1), so the
    loss can lean on the dims that matter (Fetch push: the gripper and block positions) and
    away from ones the plan barely needs (the block's rotation and spin). Each weight must be
    finite and >= 0, at least one > 0; the length is checked against the data's state size at
    training time. Acting is unchanged (the weights shape only the training loss)."""

    n_timesteps: int = 64
    schedule: str = "cosine"
    prediction: str = "x0"
    loss: str = "l2"
    action_weight: float = 1.0
    global_cond: bool = True
    state_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (self.action_weight >= 0 and math.isfinite(self.action_weight)):
            raise ValueError(f"diffusion.action_weight must be a finite number >= 0, got {self.action_weight!r}.")
        bad = [(i, w) for i, w in enumerate(self.state_weights) if not (w >= 0 and math.isfinite(w))]
        if bad:
            raise ValueError(f"diffusion.state_weights must be finite numbers >= 0; bad (index, value): {bad}.")
        if self.state_weights and not any(w > 0 for w in self.state_weights):
            raise ValueError("diffusion.state_weights are all 0: the loss would ignore every state dim "
                             "(leave it empty for weight 1 everywhere).")

    def loss_weights(self, action_dim: int, obs_dim: int) -> list[float]:
        """Per-column loss weights of a row ``[action (A), state (O)]``: ``action_weight`` on the
        actions, ``state_weights`` (or 1) on the states. ``ValueError`` when ``state_weights``
        does not have ``obs_dim`` entries."""
        if self.state_weights and len(self.state_weights) != obs_dim:
            raise ValueError(f"diffusion.state_weights has {len(self.state_weights)} entries but the data's states "
                             f"have {obs_dim} dims (give one weight per state dim, or none).")
        states = list(self.state_weights) if self.state_weights else [1.0] * obs_dim
        return [float(self.action_weight)] * action_dim + [float(w) for w in states]


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and schedule of a planner (the preset's ``[train]`` table)."""

    steps: int = 4000  # training steps
    batch_size: int = 32  # windows per batch
    lr: float = 2e-4  # peak learning rate (AdamW, linear warmup then cosine)
    warmup_steps: int = 200  # linear warmup steps
    ema_decay: float = 0.995  # EMA decay of the registered weights
    eval_every: int = 1000  # evaluate every N steps and at the end (0: never)
    eval_episodes: int = 5  # episodes per periodic evaluation
    checkpoint_every: int = 500  # write resume.pt every N steps
    inverse_dynamics_hidden: int = 256  # width of the inverse-dynamics MLP (0: none)
    seed: int = 0  # seed of data order, initialisation and evaluation
    amp: str = "none"  # "bf16": bfloat16 autocast of the denoiser's forward (GPU; measured in docs/scaling.md)
    compile: bool = False  # torch.compile the denoiser for training (measured in docs/scaling.md)
    # DDP noise draws: "global" (each rank draws the global batch's and keeps its rows: N ranks x B
    # train exactly as 1 x N*B; costs O(N) draws per rank) or "rank" (streams seeded by seed, step
    # and rank: O(1), the same distribution, not the same numbers); see docs/scaling.md
    ddp_noise: str = "global"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("warmup_steps", "eval_every", "inverse_dynamics_hidden"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}.")
        if not self.lr > 0 or not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.lr must be > 0 and 0 <= train.ema_decay < 1, got {self.lr} and {self.ema_decay}.")
        if self.amp not in AMP_MODES:
            raise UnknownNameError("mixed-precision mode", self.amp, AMP_MODES)
        if self.ddp_noise not in DDP_NOISE:
            raise UnknownNameError("DDP noise mode", self.ddp_noise, DDP_NOISE)


@dataclass(frozen=True)
class ActConfig:
    """How the planner acts.

    ``sampler``/``sampler_steps``/``eta``: DDIM or DDPM and its number of reverse steps
    (``sampler_steps = 0`` means the training step count). ``replan_every`` k: replan every k
    env steps (k >= horizon: open loop). ``action``: ``"pd"`` (PD on the planned waypoint
    ``lookahead`` steps ahead: ``a = kp (p_plan - p) + kd (v_plan - v)``), ``"inverse-dynamics"``
    (learned ``a = f(s_t, s_{t+1})`` towards the next planned state) or ``"plan"`` (the planned action). ``deadline``:
    ``"geodesic"`` sets the goal index from the maze's shortest-path length,
    ``j = ceil(length / deadline_speed) + deadline_margin``, kept across replans (each replan
    plans for the steps that remain; a deadline that passes short of the goal is renewed from
    where the agent is); ``"horizon"`` pins the goal at the last index. ``n_samples`` candidates
    are drawn per plan and ranked by ``rank``: ``"free-cells"`` (fewest planned positions inside
    walls, then smoothness), ``"smoothness"`` or ``"progress"`` (fewest in walls, then the
    least route left to the goal from the state planned ``replan_every`` steps ahead: the
    candidate that gets farthest before the next replan; :mod:`adiff_env.planners.ranking`)
    or ``"arrival"`` (the smallest largest one-step move of the goal dims: the candidate whose
    planned block reaches the pinned goal without jumping onto it; Fetch push).
    ``subgoal_cells`` k > 0: plan to the centre of the cell k cells ahead on the maze's
    shortest cell path (the goal itself once it is within k cells), chosen afresh at each
    replan, so each plan covers a few cells of a long route; the cell path is map knowledge,
    as the geodesic deadline is. 0 (default) plans to the goal.
    ``settle_index`` j > 0: while the task's goal dims are within its ``goal_tolerance`` of the
    goal, every replan pins the goal from index j on (the plan settles at the goal in j steps
    and rests there) instead of at the deadline still ahead; 0 (default) keeps the deadline.
    Must be below the plan's horizon (checked when the planner is built).
    ``hold_tolerance`` h > 0 (m, in goal space): while the task's goal dims are within h of the
    goal, the action is zero instead of the plan's (the agent rests: on Fetch the gripper stays
    put, so a block at the goal is not pushed on out of it); replanning goes on, and the plan's
    action comes back as soon as the goal dims drift beyond h. Meant for tasks whose zero action
    rests (Fetch), not for a maze (a ball coasts). 0 (default): off.

    Reward guidance (:mod:`adiff_env.planners.reward_spec`): ``reward`` a spec such as
    ``"task"``, ``"coins"`` or ``"coins:1+free-cells:0.5"`` ('' = none, the default: the plans
    are unchanged bit for bit). Each replan rebuilds it from the env's current state and guides
    sampling with ``guidance`` (``"xt"``, ``"dps"`` or ``"x0"``, see
    :mod:`adiff_env.diffusion.guidance`), step size ``guide_scale`` and ``guide_steps`` gradient
    steps per reverse step (x0-space methods edit every step, ``xt`` stops at ``t < 2``);
    ``n_samples`` > 1 candidates are then ranked by (fewest infeasible states with
    ``rank = "free-cells"`` or ``"progress"``, highest reward, smoothest). ``route``: ``"reward"`` (default) lets a
    guiding reward that asks something of the route (coins to collect, ``waypoint[...]``,
    ``avoid[...]``) steer the subgoals: the task routes through the points not yet passed, in
    the order of the shortest tour, and around the zone (:mod:`adiff_env.planners.route`; with
    ``subgoal_cells = 0`` the plan goes to the next point to pass); ``"shortest"`` keeps the
    task's shortest route to the goal whatever the reward (guidance alone must make the detour).
    ``replan_on_reach`` (default True): replan at the step the agent passes a route point (a
    coin taken, a waypoint passed) instead of at the next ``replan_every`` step, so the ball
    turns to the next point at once rather than braking onto the one it has passed.
    ``route_pace`` p > 0 (env steps per unit of the task's route length; a maze: per cell):
    a time budget for the route. At each replan, while ``p x route_length`` exceeds the steps
    left before the env's time limit, the point to visit (``visit``, not an ordered ``via``)
    whose removal shortens the route most is left out for the rest of the episode (the goal
    comes first). 0 (default): every point is visited, however late.
    ``compile``: how the denoiser's forward runs when no gradient is needed
    (:func:`adiff_env.diffusion.inference.accelerate`): ``"none"`` (default, eager) or
    ``"trace"`` (a frozen TorchScript graph per batch shape, traced at the first plan of each
    shape: the same plans bit for bit on CPU, ~1.5-2x more plans/s for a one-step student at
    batch 1).
    """

    sampler: str = "ddim"
    sampler_steps: int = 10
    eta: float = 0.0
    n_samples: int = 1
    replan_every: int = 8
    action: str = "pd"
    lookahead: int = 2
    kp: float = 10.0
    kd: float = 1.0
    deadline: str = "geodesic"
    deadline_speed: float = 0.1
    deadline_margin: int = 4
    rank: str = "free-cells"
    subgoal_cells: int = 0
    settle_index: int = 0
    hold_tolerance: float = 0.0
    reward: str = ""
    guidance: str = "x0"
    guide_scale: float = 0.3
    guide_steps: int = 2
    route: str = "reward"
    replan_on_reach: bool = True
    route_pace: float = 0.0
    compile: str = "none"

    def __post_init__(self) -> None:
        from adiff_env.planners.reward_spec import parse_reward_spec

        parse_reward_spec(self.reward)
        if self.guidance not in GUIDANCE_METHODS:
            raise UnknownNameError("guidance method", self.guidance, GUIDANCE_METHODS)
        if not self.guide_scale >= 0 or self.guide_scale == float("inf"):
            raise ConfigError(f"act.guide_scale must be a finite number >= 0, got {self.guide_scale!r}.")
        if self.guide_steps < 0:
            raise ConfigError(f"act.guide_steps must be >= 0, got {self.guide_steps!r}.")
        if self.route not in ROUTE_RULES:
            raise UnknownNameError("route rule", self.route, ROUTE_RULES)
        if self.compile not in ACCELERATIONS:
            raise UnknownNameError("denoiser acceleration (act.compile)", self.compile, ACCELERATIONS)
        if self.rank not in RANK_RULES:
            raise UnknownNameError("ranking rule", self.rank, RANK_RULES)
        if self.action not in ACTION_RULES:
            raise UnknownNameError("action rule", self.action, ACTION_RULES)
        if self.deadline not in DEADLINE_RULES:
            raise UnknownNameError("deadline rule", self.deadline, DEADLINE_RULES)
        for name in ("replan_every", "n_samples", "lookahead"):
            if getattr(self, name) < 1:
                raise ValueError(f"act.{name} must be >= 1, got {getattr(self, name)}.")
        if not self.route_pace >= 0 or self.route_pace == float("inf"):
            raise ConfigError(f"act.route_pace must be a finite number >= 0 (0 = no time budget), got {self.route_pace!r}.")
        if self.subgoal_cells < 0:
            raise ValueError(f"act.subgoal_cells must be >= 0 (0 = plan to the goal), got {self.subgoal_cells}.")
        if not (self.hold_tolerance >= 0 and math.isfinite(self.hold_tolerance)):
            raise ValueError(f"act.hold_tolerance must be a finite distance >= 0 (0 = never hold), got {self.hold_tolerance!r}.")
        if self.settle_index < 0:
            raise ValueError(f"act.settle_index must be >= 0 (0 = keep the deadline at the goal), got {self.settle_index}.")
        if self.sampler_steps < 0 or self.deadline_speed <= 0:
            raise ValueError(
                f"act.sampler_steps must be >= 0 and act.deadline_speed > 0, got "
                f"{self.sampler_steps} and {self.deadline_speed}."
            )


@dataclass(frozen=True)
class UNetModelConfig:
    """``arch = "temporal_unet"``: :class:`~adiff_env.diffusion.unet.TemporalUNet` (about 1M
    parameters at the defaults). ``dim``: channels at the first level; level i has ``dim *
    dim_mults[i]``. ``kernel_size``: temporal convolution width. ``transition_dim``,
    ``horizon`` and ``cond_dim`` are filled from the data; the defaults are
    :class:`~adiff_env.diffusion.unet.UNetConfig`'s (a test keeps them equal)."""

    arch: str = "temporal_unet"
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    kernel_size: int = 5

    def __post_init__(self) -> None:
        if self.arch != "temporal_unet":
            raise ValueError(f"UNetModelConfig.arch must be 'temporal_unet', got {self.arch!r}.")

    def denoiser_config(self, transition_dim: int, horizon: int, cond_dim: int) -> dict[str, Any]:
        """The ``config`` of :func:`adiff_env.diffusion.build_model`'s spec."""
        return {"transition_dim": transition_dim, "horizon": horizon, "cond_dim": cond_dim, "dim": self.dim,
                "dim_mults": list(self.dim_mults), "kernel_size": self.kernel_size}


@dataclass(frozen=True)
class TransformerModelConfig:
    """``arch = "transformer"``: :class:`~adiff_env.diffusion.transformer.TransformerDenoiser`
    (DiT blocks). ``d_model`` token width (divisible by ``n_heads``), ``n_layers`` blocks,
    ``mlp_ratio`` MLP width over ``d_model``, ``dropout``. ``transition_dim`` and ``cond_dim``
    are filled from the data; defaults are
    :class:`~adiff_env.diffusion.transformer.TransformerConfig`'s (a test keeps them equal)."""

    arch: str = "transformer"
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.arch != "transformer":
            raise ValueError(f"TransformerModelConfig.arch must be 'transformer', got {self.arch!r}.")

    def denoiser_config(self, transition_dim: int, horizon: int, cond_dim: int) -> dict[str, Any]:
        """The ``config`` of :func:`adiff_env.diffusion.build_model`'s spec (no horizon: any length)."""
        return {"transition_dim": transition_dim, "cond_dim": cond_dim, "d_model": self.d_model,
                "n_layers": self.n_layers, "n_heads": self.n_heads, "mlp_ratio": self.mlp_ratio, "dropout": self.dropout}


ModelConfig = UNetModelConfig | TransformerModelConfig
"""The ``[model]`` table of a preset; its ``arch`` key picks the class."""
MODEL_CONFIGS: dict[str, type] = {"temporal_unet": UNetModelConfig, "transformer": TransformerModelConfig}


@dataclass(frozen=True)
class PlannerPreset:
    """A whole planner config. ``model``: the denoiser (``arch`` picks :class:`UNetModelConfig`
    or :class:`TransformerModelConfig`; ``transition_dim`` and ``horizon`` come from the data)."""

    name: str
    env: str
    dataset: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=UNetModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    act: ActConfig = field(default_factory=ActConfig)

    def to_dict(self) -> dict[str, Any]:
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "preset") -> PlannerPreset:
        """Checked by :func:`adiff_env.config.from_dict` (unknown keys, types, required keys)."""
        return config.from_dict(cls, data, source)

    def replace(self, **sections: Any) -> PlannerPreset:
        """A copy with some fields of some sections replaced, e.g. ``replace(train={"steps": 10})``
        (checked like the TOML file)."""
        return config.replace(self, sections, f"preset {self.name}")


def preset_names() -> list[str]:
    return sorted(p.stem for p in asset_root("planners").glob("*.toml"))


def load_preset(spec: str | Path) -> PlannerPreset:
    """Load a preset from a TOML path or by name from the shipped ``planners/`` folder."""
    path = Path(spec)
    if not path.suffix == ".toml" or not path.exists():
        candidate = asset_root("planners") / f"{Path(spec).stem}.toml"
        if path.suffix == ".toml" and not candidate.exists():
            raise MissingResourceError(f"Preset file {str(spec)!r} does not exist; shipped presets: {', '.join(preset_names())}.")
        if not candidate.exists():
            raise UnknownNameError("planner preset", str(spec), preset_names())
        path = candidate
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return PlannerPreset.from_dict(data, source=str(path))
