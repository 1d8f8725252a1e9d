"""The diffusion trajectory planner as an agent (Diffuser-style, receding horizon).

Acting loop, per env step::

    obs -> (replan?) conditioner: start state at index 0, goal (zero velocity, zero action)
           at index j and every later index -> sampler (DDIM/DDPM) -> plan [H, A + O]
        -> action from the plan: PD on the waypoint `lookahead` steps ahead, a learned inverse
           dynamics model, or the planned action -> env.step(action)

Which state dims the goal pins, how long the route is, subgoals and which plans are infeasible
come from the env's :class:`~adiff_env.planners.task.PlanningTask` (``env.unwrapped.planning_task()``);
the planner itself knows no domain. The goal index ``j`` is the *deadline*: with
``deadline="geodesic"`` it is set once per goal from the task's route length and kept across replans, so each replan plans for the
steps that remain (replanning with the goal always at the last index lets the model fill the
spare time with detours, and each replan pushes the deadline back). Training windows reach
their goal at a random index and rest there (``goal_mode="hindsight"``), so this
conditioning is in distribution.

``predict`` follows SB3's signature, so ``stable_baselines3.common.evaluation.evaluate_policy``
runs the planner unchanged. Given one observation (or a batch of one) the planner holds the plan
of one env. Given a batch of ``N > 1`` (a vector env's observations, ``episode_start [N]``) it
keeps one :class:`PlanState` per env and plans for every env that needs a new plan in *one*
sampler call of ``N' x n_samples`` trajectories (each with its own inpainting), so vectorized
evaluation costs one denoiser pass per sampler step instead of ``N``.

Reward guidance (``act.reward``, e.g. ``planner:NAME?reward=task&guidance=x0``): the planner
keeps the env it acts on and, at every replan, rebuilds the reward from that env's current
state (:class:`~adiff_env.planners.reward_spec.PlanReward`), so coins already taken no longer
pull the plan. A reward that asks something of the route (``route_hints()``: coins, waypoints,
a zone to keep out of) also steers the subgoals, with ``act.route = "reward"``: the task's
``routed_subgoal`` (if it has one) routes through the points not yet passed and around the
zone (:mod:`adiff_env.planners.route`). Batched acting guides each env by its own state: the
caller binds one handle per env (:meth:`TrajectoryPlanner.bind_envs`; the vector evaluation
does it for its sub-envs), each env gets its own reward at its replans, and the one sampler
call guides and ranks each env's candidates by that env's reward. Without bound handles
batched guided acting is a ``ConfigError`` (it would guide every env by one env's state).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from adiff_env.datasets.normalizers import Normalizer, normalizer_from_dict
from adiff_env.diffusion import Inpainting, load_model, load_prefixed, make_scheduler, sample, schedule_from_dict
from adiff_env.diffusion.inference import accelerate
from adiff_env.errors import CheckpointError, ConfigError
from adiff_env.planners.batched import act_on_batch, plan_batch
from adiff_env.planners.parts import InverseDynamics, PlanState, global_condition
from adiff_env.planners.preset import ActConfig
from adiff_env.planners.ranking import candidate_rank
from adiff_env.planners.task import PlanningTask, check_task, goal_dim_of, pinned_columns, planning_task_of, point_mass_task

KIND = "trajectory-planner"
__all__ = ["KIND", "InverseDynamics", "PlanState", "TrajectoryPlanner", "global_condition"]


class TrajectoryPlanner:
    """A trained diffusion model + acting rules. Build with :meth:`from_checkpoint`.

    Args:
        model: denoiser ``[N, H, D] -> [N, H, D]`` (D = A + O, actions first).
        schedule_config: the noise schedule's dict (``make_schedule`` arguments).
        prediction: what the model predicts (``x0``, ``epsilon`` or ``v``).
        normalizer: maps raw ``[.., A + O]`` rows to the model's scale and back.
        horizon, action_dim, obs_dim: the plan's shape.
        act: acting rules (sampler, replanning, action rule, deadline).
        task: the domain's :class:`~adiff_env.planners.task.PlanningTask` (None:
            :func:`~adiff_env.planners.task.point_mass_task`, no route and no feasibility test).
        inverse_dynamics: for ``act.action == "inverse-dynamics"``.
        env: the env acted on; needed only for reward guidance (``act.reward``), whose reward
            is rebuilt from this env's state at every replan.
        device, seed: where to sample, and the seed of the sampling generator.

    ``batch_predict = True``: ``predict`` accepts a batch of envs (see the module docstring).
    """

    batch_predict = True

    def __init__(
        self,
        model: nn.Module,
        schedule_config: dict[str, Any],
        prediction: str,
        normalizer: Normalizer,
        horizon: int,
        action_dim: int,
        obs_dim: int,
        act: ActConfig,
        *,
        task: PlanningTask | None = None,
        inverse_dynamics: InverseDynamics | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        name: str = "planner",
        global_cond: bool = False,
        env: Any = None,
    ) -> None:
        if act.action == "inverse-dynamics" and inverse_dynamics is None:
            raise ValueError("act.action='inverse-dynamics' needs a checkpoint trained with an inverse-dynamics model.")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.schedule_config = dict(schedule_config)
        self.prediction = prediction
        self.normalizer = normalizer
        self.horizon, self.action_dim, self.obs_dim = horizon, action_dim, obs_dim
        self.inverse_dynamics = inverse_dynamics.to(device).eval() if inverse_dynamics is not None else None
        self.task = task if task is not None else point_mass_task(obs_dim)
        check_task(self.task, obs_dim, len(self.task.goal_dims))
        self._goal_cols = [action_dim + d for d in self.task.goal_dims]  # columns of the goal in a plan row
        self.name = name
        self.global_cond = global_cond
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = PlanState()
        self.states: list[PlanState] = []  # one per env in batched mode
        self.plan_times: list[float] = []  # seconds per sampler call
        self.plans_made = 0  # env plans (a batched call makes several)
        self.env = env
        self._bound_envs: list[Any] = []  # bind_envs: one handle per env of a batch
        self.reward_sources: list[Any] = []  # batched guided acting: one PlanReward per bound env
        self._masks: dict[int, torch.Tensor] = {}  # conditioner's inpainting masks by goal index (task fixed)
        self.set_act(act)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, checkpoint: Any, env: Any = None, *, device: str = "cpu", seed: int = 0, **act_overrides: Any) -> TrajectoryPlanner:
        """Build from a registry :class:`~adiff_env.registry.Checkpoint` of kind ``trajectory-planner``."""
        meta, config = checkpoint.metadata, checkpoint.config
        if meta.kind != KIND:
            raise CheckpointError(f"{checkpoint.path} holds a {meta.kind!r}, not a {KIND!r}.")
        try:
            act = dataclasses.replace(ActConfig(**config["act"]), **act_overrides)
            dims = config["dims"]
            model = load_model(config["model"], checkpoint.tensors, "model.", str(checkpoint.path))
            inv = None
            if config.get("inverse_dynamics"):
                inv = load_prefixed(InverseDynamics(**config["inverse_dynamics"]), checkpoint.tensors, "inv.",
                                    str(checkpoint.path))
            normalizer = normalizer_from_dict(meta.normalizer)
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{checkpoint.path}: config.json is missing or has a bad field ({exc}).") from exc
        task = planning_task_of(env, dims["obs_dim"], goal_dim_of(env)) if env is not None else None
        return cls(
            model, config["schedule"], config["prediction"], normalizer, dims["horizon"], dims["action_dim"],
            dims["obs_dim"], act, task=task, inverse_dynamics=inv, device=device, seed=seed, name=checkpoint.spec,
            global_cond=bool(config.get("global_cond", False)), env=env,
        )

    def set_act(self, act: ActConfig) -> None:
        """Change the acting rules (e.g. the sampler) without reloading the model."""
        schedule = schedule_from_dict(self.schedule_config)
        steps = act.sampler_steps or schedule.num_steps
        if steps > schedule.num_steps:
            raise ValueError(f"sampler_steps {steps} exceeds the model's {schedule.num_steps} training steps.")
        if act.settle_index >= self.horizon:
            raise ValueError(f"act.settle_index {act.settle_index} must be below the plan's horizon {self.horizon} "
                             "(0 = keep the deadline at the goal).")
        if act.action == "pd" and not self.task.position_dims:
            raise ValueError(f"act.action='pd' needs a task with position_dims; {type(self.task).__name__} has none. "
                             "Use action='plan' or 'inverse-dynamics'.")
        self.reward_source = None
        if act.reward:
            from adiff_env.planners.reward_spec import PlanReward

            if self.env is None:
                raise ConfigError(f"act.reward={act.reward!r} needs the env the planner acts on: build the planner "
                                  "with TrajectoryPlanner.from_checkpoint(checkpoint, env, reward=...).")
            self.reward_source = PlanReward(act.reward, self.env)
        self.act = act
        self._bind_rewards()
        self.scheduler = make_scheduler(act.sampler, schedule, prediction=self.prediction, steps=steps, eta=act.eta)
        self.sampler_steps = steps
        self.denoiser = accelerate(self.model, act.compile)  # what sampling calls: the model, or its traced forward

    def bind_envs(self, envs: Any) -> None:
        """The envs this planner acts on, one handle per env of a batch (``envs [N]``: a vector
        env's sub-envs, or anything whose ``unwrapped.task_reward()`` reads that env's live
        state), so reward guidance (``act.reward``) rebuilds each env's reward from its own
        state. One handle also rebinds single-env acting. Without ``act.reward`` it only records them."""
        bound = list(envs)
        if not bound:
            raise ValueError("bind_envs needs at least one env handle.")
        self._bound_envs = bound
        self._bind_rewards()

    def _bind_rewards(self) -> None:
        self.reward_sources = []
        if self.act.reward and self._bound_envs:
            from adiff_env.planners.reward_spec import PlanReward

            self.reward_sources = [PlanReward(self.act.reward, e) for e in self._bound_envs]
            if len(self.reward_sources) == 1:
                self.reward_source = self.reward_sources[0]

    # ------------------------------------------------------------------ agent protocol
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """SB3 signature. ``observation``: GoalEnv dict (``observation`` [O] = [x, y, vx, vy],
        ``desired_goal`` [2]) or a batch. Returns ``(action [A], state)`` (``[N, A]`` for a batch of N)."""
        if isinstance(observation, dict) and np.asarray(observation.get("observation")).ndim == 2 \
                and len(observation["observation"]) > 1:
            return self.act_on_batch(observation, episode_start), state
        obs, batched = _single(observation)
        start = np.asarray(episode_start).reshape(-1)[0] if episode_start is not None else False
        if start:
            self.reset()
        action = self.act_on(np.asarray(obs["observation"], dtype=np.float64), np.asarray(obs["desired_goal"], dtype=np.float64))
        return (action[None] if batched else action), state

    def reset(self) -> None:
        self.state = PlanState()
        self.states = []

    def act_on(self, s: np.ndarray, goal: np.ndarray) -> np.ndarray:
        st, env_goal = self.state, goal
        if self.reward_source is not None:
            from adiff_env.planners.route import refresh_reward

            refresh_reward(self, st, s, goal=goal)
        goal = self._plan_goal(st, s, goal)
        if self._needs_plan(st, s, goal):
            st.plan, st.plan_t = self.plan(s, goal, st.deadline_t - st.t), st.t
        action = self._held(s, env_goal, self.action_from_plan(s, st.plan, st.t - st.plan_t))
        st.t += 1
        return action

    def _held(self, s: np.ndarray, goal: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``action``, or zeros while the goal dims are within ``act.hold_tolerance`` (> 0) of ``goal``."""
        near = self.act.hold_tolerance > 0 and np.linalg.norm(s[list(self.task.goal_dims)] - goal) <= self.act.hold_tolerance
        return np.zeros_like(action) if near else action

    def _plan_goal(self, st: PlanState, s: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The point the next plan is conditioned on: ``goal``, or with ``act.subgoal_cells`` k the
        task's subgoal k steps of its route ahead (a maze: the centre of the cell k cells ahead),
        re-chosen only when a replan is due or the goal changes (so a ball on a cell border does
        not flip it every step)."""
        k = self.act.subgoal_cells
        hints = st.hints if self.act.route == "reward" else None
        routed = bool(hints) and callable(getattr(self.task, "routed_subgoal", None))
        if k <= 0 and not routed:
            return goal
        if self._replan_due(st) or st.final_goal is None or not np.allclose(st.final_goal, goal):
            st.final_goal = goal.copy()
            sub = self.task.routed_subgoal(s, goal, k, hints) if routed else self.task.subgoal(s, goal, k)  # type: ignore[attr-defined]
            return np.asarray(sub, dtype=np.float64)
        return st.goal

    def _replan_due(self, st: PlanState) -> bool:
        return st.plan is None or st.t - st.plan_t >= self.act.replan_every

    def _needs_plan(self, st: PlanState, s: np.ndarray, goal: np.ndarray) -> bool:
        """Track goal changes and the deadline; True when ``st`` needs a new plan now."""
        if st.goal is None or not np.allclose(st.goal, goal):
            st.goal, st.deadline_t, st.plan = goal.copy(), None, None
        due = self._replan_due(st)
        far = np.linalg.norm(s[list(self.task.goal_dims)] - goal) > self.task.goal_tolerance
        if st.deadline_t is None or (due and st.t >= st.deadline_t and far):
            # a new goal, or the deadline passed short of the goal (e.g. stuck at a wall):
            # plan afresh from here instead of pinning every state to an unreachable goal
            st.deadline_t = st.t + self.initial_deadline(s, goal)
        if due and not far and self.act.settle_index:
            # at the goal already: settle there in settle_index steps, not at a deadline still ahead
            st.deadline_t = st.t + self.act.settle_index
        return due

    def act_on_batch(self, observation: dict[str, Any], episode_start: Any = None) -> np.ndarray:
        """Actions ``[N, A]`` for a batch of envs (:func:`~adiff_env.planners.batched.act_on_batch`)."""
        return act_on_batch(self, observation, episode_start)

    @property
    def current_plan(self) -> np.ndarray | None:
        """Planned goal-space points ``[H, G]`` of the current plan (a maze: positions), None
        before the first plan."""
        plan = self.state.plan
        return None if plan is None else plan[:, self._goal_cols]

    def eval_stats(self) -> dict[str, Any]:
        """Planning figures added to ``adiff evaluate``'s JSON."""
        return {
            "plan_ms_median": 1000 * statistics.median(self.plan_times) if self.plan_times else None,
            "plans": self.plans_made,
            "plan_calls": len(self.plan_times),
            "sampler": self.act.sampler,
            "steps": self.sampler_steps,
            "checkpoint": self.name,
        }

    # ------------------------------------------------------------------ planning
    def initial_deadline(self, s: np.ndarray, goal: np.ndarray) -> int:
        """Steps allowed to reach ``goal`` from state ``s [O]`` (the goal index of the first
        plan): from the task's route length, or the last index without one."""
        length = None if self.act.deadline == "horizon" else self.task.path_length(s, goal)
        if length is None:
            return self.horizon - 1
        return math.ceil(length / self.act.deadline_speed) + self.act.deadline_margin

    def conditioner(self, s: np.ndarray, goal: np.ndarray, goal_index: int) -> Inpainting:
        """Start state at index 0; from ``goal_index`` on, the goal in the task's ``goal_dims``
        and zeros in its ``rest_dims`` (and actions, with ``rest_actions``)."""
        h, a, o = self.horizon, self.action_dim, self.obs_dim
        j = int(np.clip(goal_index, 1, h - 1))
        raw = np.zeros((h, a + o))
        raw[0, a:] = s
        raw[j:, self._goal_cols] = goal
        values = torch.as_tensor(self.normalizer.normalize(raw), dtype=torch.float32, device=self.device)
        mask = self._masks.get(j)
        if mask is None:  # one per goal index (read-only: Inpainting never writes its mask)
            mask = torch.zeros(h, a + o, dtype=torch.bool, device=self.device)
            mask[0, a:] = True
            mask[j:, pinned_columns(self.task, a)] = True
            self._masks[j] = mask
        return Inpainting(mask, values)

    def plan(self, s: np.ndarray, goal: np.ndarray, steps_left: int) -> np.ndarray:
        """One plan ``[H, A + O]`` (unnormalized) from state ``s`` to ``goal`` in ``steps_left`` steps."""
        tic = time.perf_counter()
        if self.reward_source is None:
            out = self.sample_plans(s, goal, steps_left, self.act.n_samples,
                                    reward_fn=candidate_rank(self, goal[None]) if self.act.n_samples > 1 else None)
        else:
            out = self.sample_plans(s, goal, steps_left, self.act.n_samples, **self.guided_kwargs())
        plan = self.normalizer.unnormalize(out.best.cpu().numpy().astype(np.float64))
        self.plan_times.append(time.perf_counter() - tic)
        self.plans_made += 1
        return plan

    def sample_plans(self, s: np.ndarray, goal: np.ndarray, steps_left: int, n: int, **sample_kwargs: Any) -> Any:
        """``n`` normalized candidate plans (a :class:`~adiff_env.diffusion.SampleOutput`) under
        this planner's conditioning; ``sample_kwargs`` go to :func:`~adiff_env.diffusion.sample`
        (``guide``, ``guidance``, ``reward_fn``), e.g. for self-evolution's guided generation."""
        j = int(np.clip(steps_left, 1, self.horizon - 1))
        cond = self.conditioner(s, goal, j)
        shape = (n, self.horizon, self.action_dim + self.obs_dim)
        vector = None
        if self.global_cond:
            a = self.action_dim
            start, goal_pos = cond.values[0, a:], cond.values[j, self._goal_cols]
            vector = global_condition(start.expand(n, -1), goal_pos.expand(n, -1), torch.full((n,), j), self.horizon)
        return sample(self.denoiser, self.scheduler, shape, device=self.device, generator=self.generator,
                      conditioner=cond, cond=vector, **sample_kwargs)

    def guided_kwargs(self) -> dict[str, Any]:
        """``guide``, ``guidance`` and ``reward_fn`` for :func:`~adiff_env.diffusion.sample`:
        ``act.reward`` rebuilt on the env's current state (:func:`~adiff_env.planners.guided.guided_kwargs`)."""
        from adiff_env.planners.guided import guided_kwargs

        reward = self.state.reward if self.state.reward is not None else self.reward_source()
        return guided_kwargs(self, reward)

    def plan_batch(self, s: np.ndarray, goals: np.ndarray, steps_left: list[int], rewards: list[Any] | None = None
                   ) -> np.ndarray:
        """Plans ``[N, H, A + O]`` for ``N`` envs in one sampler call (:func:`~adiff_env.planners.batched.plan_batch`)."""
        return plan_batch(self, s, goals, steps_left, rewards)

    def _rank_reward(self, x: torch.Tensor) -> torch.Tensor:
        """Ranking of ``n_samples`` candidate plans ``[N, H, D]`` (normalized), higher is better:
        ``act.rank = "free-cells"`` counts the task's infeasible planned states (a maze: positions
        inside walls; ties broken by smoothness), ``"smoothness"`` only penalizes jumps."""
        smooth = self._smoothness(x)
        if self.act.rank != "free-cells":
            return smooth
        states = self.normalizer.unnormalize(x.detach().cpu().numpy().astype(np.float64))[..., self.action_dim :]
        bad = self.task.violations(states)
        if bad is None:
            return smooth
        return -torch.as_tensor(np.asarray(bad, dtype=np.float64), dtype=smooth.dtype, device=smooth.device) * 1e3 + smooth

    def _smoothness(self, x: torch.Tensor) -> torch.Tensor:
        """Ranking reward for candidate plans: minus the summed squared change of consecutive states."""
        return -(x[:, 1:, self.action_dim:] - x[:, :-1, self.action_dim:]).square().sum(dim=(1, 2))

    def action_from_plan(self, s: np.ndarray, plan: np.ndarray, i: int) -> np.ndarray:
        """The action ``[A]`` at env step ``i`` of ``plan`` from state ``s``, by ``act.action``:
        the planned action, inverse dynamics towards the next planned state, or PD on the task's
        positions/velocities ``lookahead`` steps ahead: ``a = kp (p_plan - p) + kd (v_plan - v)``."""
        a = self.action_dim
        k = min(i + self.act.lookahead, self.horizon - 1)
        if self.act.action == "plan":
            action = plan[min(i, self.horizon - 1), :a]
        elif self.act.action == "inverse-dynamics":
            with torch.inference_mode():
                now = self.normalizer.normalize(np.concatenate([np.zeros(a), s]))[a:]
                nxt = self.normalizer.normalize(plan[min(i + 1, self.horizon - 1)])[a:]
                as_input = lambda v: torch.as_tensor(v, dtype=torch.float32, device=self.device)[None]  # noqa: E731
                out = self.inverse_dynamics(as_input(now), as_input(nxt))
                row = np.concatenate([out[0].cpu().numpy().astype(np.float64), np.zeros(self.obs_dim)])
                action = self.normalizer.unnormalize(row)[:a]
        else:
            pos, vel = list(self.task.position_dims), list(self.task.velocity_dims)
            target_pos, target_vel = plan[k, [a + d for d in pos]], plan[k, [a + d for d in vel]]
            action = self.act.kp * (target_pos - s[pos]) + self.act.kd * (target_vel - s[vel])
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def _single(observation: Any) -> tuple[dict, bool]:
    if not isinstance(observation, dict):
        raise TypeError(
            f"TrajectoryPlanner expects a GoalEnv dict observation (observation, desired_goal), got {type(observation).__name__}."
        )
    first = np.asarray(observation["observation"])
    if first.ndim == 2:
        if first.shape[0] != 1:
            raise ValueError(f"TrajectoryPlanner plans for one env; got a batch of {first.shape[0]} observations.")
        return {k: np.asarray(v)[0] for k, v in observation.items()}, True
    return observation, False
