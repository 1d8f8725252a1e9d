"""What a domain tells the trajectory planner about its task: the :class:`PlanningTask` protocol.

The planner (:class:`~adiff_env.planners.trajectory.TrajectoryPlanner`) plans trajectories of
rows ``[action (A), state (O)]`` and knows nothing of mazes or robots. Everything that depends
on what the state means comes from the env's task, ``env.unwrapped.planning_task()``:

* ``goal_dims``: the state dims the goal pins from the deadline index ``j`` on (a maze: the
  ball's ``(x, y)``; a pusher: the object's position), in the order of ``desired_goal``;
* ``rest_dims`` / ``rest_actions``: state dims (e.g. velocities) and, if True, the actions
  pinned to zero from ``j`` on, so the plan rests at the goal;
* ``position_dims`` / ``velocity_dims``: what the PD action rule tracks,
  ``a = kp (p_plan - p) + kd (v_plan - v)`` (the gains are acting options, ``act.kp``/``act.kd``);
  empty when the task has no PD rule (use the planned action or inverse dynamics);
* ``goal_tolerance``: within this distance of the goal a passed deadline is not renewed;
* ``path_length(state, goal)``: a length estimate of the route, for the deadline
  ``j = ceil(length / act.deadline_speed) + act.deadline_margin`` (None: no estimate, the
  goal goes to the last index);
* ``subgoal(state, goal, k)``: the point ``k`` steps of the task's own route ahead (``act.subgoal_cells``),
  or ``goal`` when the task has no route;
* ``violations(states)``: per candidate plan ``[N, H, O] -> [N]``, how many planned states are
  infeasible (a maze: inside walls), to rank candidates; None when the task cannot tell.

Optional hook, for reward guidance (``act.reward``) whose reward asks something of the route
(a reward's ``route_hints() -> RouteHints``: coins to collect, waypoints to pass, a zone to keep
out of): ``routed_subgoal(state, goal, k, hints)``, the point ``k`` steps ahead on the task's
route from ``state`` through the hints' points to ``goal`` (with ``k = 0``: the next point to
pass, or ``goal``). A task without it ignores the hints (``subgoal`` as always).

:class:`GoalTask` is the plain version of all of this for any GoalEnv whose observation starts
with the achieved goal; domains with more knowledge implement the protocol themselves (the
maze's is :class:`adiff_env.maze.task.MazePlanningTask`). A protocol, not a base class: a
domain needs no import from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PlanningTask(Protocol):
    """See the module docstring."""

    goal_dims: tuple[int, ...]
    rest_dims: tuple[int, ...]
    rest_actions: bool
    position_dims: tuple[int, ...]
    velocity_dims: tuple[int, ...]
    goal_tolerance: float

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float | None: ...

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray: ...

    def violations(self, states: np.ndarray) -> np.ndarray | None: ...


@dataclass(frozen=True)
class RouteHints:
    """What a reward asks of the route to the goal, in goal-space coordinates (``G`` dims).

    ``visit``: points ``[K][G]`` to pass in any order (the task picks the order, e.g. gold
    coins); ``via``: points to pass in the given order (waypoints); ``avoid``: boxes
    ``[M][2 G]`` (``lo_1..lo_G, hi_1..hi_G``) the route keeps out of where it can. Points the
    agent has passed this episode are dropped by the planner (:meth:`without`)."""

    visit: tuple[tuple[float, ...], ...] = ()
    via: tuple[tuple[float, ...], ...] = ()
    avoid: tuple[tuple[float, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.visit or self.via or self.avoid)

    def merged(self, other: RouteHints) -> RouteHints:
        return RouteHints(self.visit + other.visit, self.via + other.via, self.avoid + other.avoid)

    def without(self, reached: Any, tolerance: float) -> RouteHints:
        """These hints less the ``visit``/``via`` points within ``tolerance`` of any point of
        ``reached`` ``[R, G]`` (points the agent has passed)."""
        points = self.visit + self.via
        pts = np.asarray(reached, dtype=np.float64)
        if not points or pts.size == 0:
            return self
        pts = pts.reshape(-1, len(points[0]))

        def keep(group: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
            return tuple(p for p in group if np.min(np.linalg.norm(pts - np.asarray(p), axis=1)) > tolerance)

        return RouteHints(keep(self.visit), keep(self.via), self.avoid)


def route_hints(reward: Any) -> RouteHints:
    """The :class:`RouteHints` of a reward: its own ``route_hints()``, or the merged hints of the
    parts of a weighted sum (``reward.terms = [(weight, reward), ...]``, positive weights only:
    a reward used as a cost asks nothing of the route). Empty when it has none."""
    own = getattr(reward, "route_hints", None)
    if callable(own):
        return own()
    out = RouteHints()
    for weight, part in getattr(reward, "terms", ()):
        if weight > 0:
            out = out.merged(route_hints(part))
    return out


@dataclass(frozen=True)
class GoalTask:
    """A :class:`PlanningTask` knowing only that ``state[goal_dims]`` is the achieved goal:
    no route (deadline at the last index, no subgoals), no feasibility test, no rest rows."""

    goal_dims: tuple[int, ...]
    rest_dims: tuple[int, ...] = ()
    rest_actions: bool = False
    position_dims: tuple[int, ...] = ()
    velocity_dims: tuple[int, ...] = ()
    goal_tolerance: float = 0.05

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float | None:
        return None

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray:
        return goal

    def violations(self, states: np.ndarray) -> np.ndarray | None:
        return None


def point_mass_task(obs_dim: int, goal_dim: int = 2) -> GoalTask:
    """A point mass whose state is ``[position, velocity]`` (two halves of ``obs_dim``) and whose
    goal is the first ``goal_dim`` dims: PD on the halves, the rest of the state and the actions
    at zero from the deadline on, no route. The task of a planner built without an env."""
    p = obs_dim // 2
    return GoalTask(goal_dims=tuple(range(goal_dim)), rest_dims=tuple(range(goal_dim, obs_dim)), rest_actions=True,
                    position_dims=tuple(range(p)), velocity_dims=tuple(range(p, 2 * p)), goal_tolerance=0.5)


def pinned_columns(task: PlanningTask, action_dim: int) -> list[int]:
    """Columns of a plan row ``[action (A), state (O)]`` the planner pins from the goal index on:
    the task's ``goal_dims`` and ``rest_dims`` (offset by ``A``), plus every action column with
    ``rest_actions``. Training pins the same columns (``training_conditioner``), so the model
    learns to fill exactly what acting leaves free."""
    cols = [action_dim + d for d in task.goal_dims] + [action_dim + d for d in task.rest_dims]
    if task.rest_actions:
        cols += list(range(action_dim))
    return sorted(set(cols))


def goal_dim_of(env: Any) -> int:
    """Size of the env's ``desired_goal`` (a GoalEnv's Dict observation space)."""
    space = getattr(env, "observation_space", None)
    goal = getattr(space, "spaces", {}).get("desired_goal") if space is not None else None
    if goal is None:
        spec = getattr(env, "spec", None)
        raise TypeError(f"the trajectory planner needs a GoalEnv (a Dict observation space with 'desired_goal'), "
                        f"got {type(space).__name__} from {spec.id if spec else env}.")
    return int(np.prod(goal.shape))


def planning_task_of(env: Any, obs_dim: int, goal_dim: int) -> PlanningTask:
    """The env's task (``env.unwrapped.planning_task()``), else a :class:`GoalTask` on the
    first ``goal_dim`` state dims. Checks that the task's dims fit a state of ``obs_dim``."""
    make = getattr(getattr(env, "unwrapped", None), "planning_task", None)
    task = make() if callable(make) else GoalTask(goal_dims=tuple(range(goal_dim)))
    if not isinstance(task, PlanningTask):
        raise TypeError(f"{type(env.unwrapped).__name__}.planning_task() returned a {type(task).__name__}, which "
                        "lacks PlanningTask's fields (see adiff_env.planners.task).")
    check_task(task, obs_dim, goal_dim)
    return task


def check_task(task: PlanningTask, obs_dim: int, goal_dim: int) -> None:
    """``ValueError`` naming the field when a task's dims do not fit ``obs_dim`` / ``goal_dim``."""
    if len(task.goal_dims) != goal_dim:
        raise ValueError(f"task.goal_dims {task.goal_dims} has {len(task.goal_dims)} dims but the goal has {goal_dim}.")
    if len(task.position_dims) != len(task.velocity_dims):
        raise ValueError(f"task.position_dims {task.position_dims} and velocity_dims {task.velocity_dims} must have "
                         "the same length (one velocity per tracked position).")
    for name in ("goal_dims", "rest_dims", "position_dims", "velocity_dims"):
        dims = getattr(task, name)
        bad = [d for d in dims if not 0 <= d < obs_dim]
        if bad:
            raise ValueError(f"task.{name} {dims} has dims {bad} outside the state's {obs_dim} dims.")
