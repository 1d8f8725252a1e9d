"""Registration of the built-in agent kinds beyond ``random``.

Each kind's factory imports its module lazily, so listing kinds costs nothing. A new kind is
one function here (or an entry point in the ``adiff_env.agents`` group for a plugin).
"""

from __future__ import annotations

from adiff_env.agents import register_agent



def _expert_factory(tuned: bool):
    def factory(arg: str, env):
        from adiff_env.manipulation import is_fetch_env

        try:
            noise = float(arg) if arg else 0.0
        except ValueError:
            raise ValueError(
                f"expert agent spec takes an optional action-noise std, e.g. 'expert:0.5'; got {arg!r}."
            ) from None
        if is_fetch_env(env):  # the scripted Fetch expert (one version: 'expert-tuned' is the same)
            from adiff_env.manipulation.expert import make_fetch_expert

            return make_fetch_expert(env, noise_std=noise, seed=0)
        from adiff_env.datasets.expert import make_expert

        return make_expert(env, tuned=tuned, noise_std=noise, seed=0)

    return factory


register_agent("expert", _expert_factory(False),
               "D4RL waypoint expert for PointMaze, scripted expert for Fetch (EXPERT[:NOISE_STD])")
register_agent(
    "expert-tuned", _expert_factory(True), "faster tuned waypoint expert for PointMaze (EXPERT-TUNED[:NOISE_STD])"
)


def _planner_factory(arg: str, env, sampler: str | None = None, steps: int | None = None, device: str = "cpu",
                     **act: object):
    """``planner:NAME``, ``planner:NAME@v2`` or ``planner:PATH``; options override the
    checkpoint's acting rules (``sampler``, ``steps`` = sampler steps, any ActConfig field);
    ``device`` is where it samples (``cpu``, ``cuda``)."""
    from adiff_env.planners.trajectory import TrajectoryPlanner
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ValueError("planner agent spec needs a model: 'planner:NAME', 'planner:NAME@v2' or 'planner:PATH'.")
    overrides = dict(act)
    if sampler is not None:
        overrides["sampler"] = sampler
    if steps is not None:
        overrides["sampler_steps"] = int(steps)
    checkpoint = ModelRegistry().load(arg, kind="trajectory-planner")
    return TrajectoryPlanner.from_checkpoint(checkpoint, env, device=device, **overrides)


register_agent("planner", _planner_factory, "diffusion trajectory planner from the registry (PLANNER:NAME[@vN] | PLANNER:PATH)")


def _sb3_factory(arg: str, env):
    from adiff_env.baselines.sb3 import load_sb3_agent

    return load_sb3_agent(arg, env)


register_agent("sb3", _sb3_factory, "Stable-Baselines3 model (SB3:NAME[@vN] from the registry | SB3:PATH.zip)")


def _offline_factory(algo: str):
    def factory(arg: str, env, seed: int = 0):
        from adiff_env.baselines.offline import load_offline_agent

        return load_offline_agent(algo, arg, env, seed=int(seed))

    return factory


for _algo, _what in (("bc", "goal-conditioned behaviour cloning"), ("iql", "implicit Q-learning"),
                     ("cql", "conservative Q-learning")):
    register_agent(_algo, _offline_factory(_algo), f"offline {_what} from the registry ({_algo.upper()}:NAME[@vN] | {_algo.upper()}:DIR)")


def _coder_factory(arg: str, env, device: str = "cpu", seed: int = 0, **act: object):
    """``coder:NAME[@vK]``, ``coder:PATH`` or ``coder:default`` (the shipped checkpoint); options
    override the checkpoint's acting rules (``samples``, ``steps``, ``temperature``, ``sandbox``...)."""
    from adiff_env.planners.code import CodePlanner

    if not arg:
        raise ValueError("coder agent spec needs a model: 'coder:default', 'coder:NAME[@vK]' or 'coder:PATH'.")
    return CodePlanner.from_spec(arg, env=env, device=device, seed=int(seed), **act)


register_agent("coder", _coder_factory, "code planner: masked-diffusion or autoregressive coder "
               "(CODER:default | CODER:NAME[@vN] | CODER:PATH)")


class _ReferenceAgent:
    """Oracle for code envs: submits the current task's reference solution (read from the env).
    It checks the env, the tests and the sandbox -- every suite's references must score 1.0 --
    and is no model of anything."""

    def __init__(self, env) -> None:
        if not hasattr(env.unwrapped, "task"):
            raise ValueError(f"the reference agent needs a code env with tasks (adiff/CodeTests-v0), got {env.spec.id if env.spec else env}.")
        self.env = env

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        task = self.env.unwrapped.task
        if task is None or task.solution is None:
            raise ValueError(f"task {getattr(task, 'task_id', None)!r} has no reference solution to submit.")
        return task.solution, state


register_agent("reference", lambda arg, env: _ReferenceAgent(env),
               "oracle for code envs: submits each task's reference solution (checks env + sandbox)")


def _chunk_factory(arg: str, env, device: str = "cpu", seed: int = 0, **overrides: object):
    """``chunk:NAME[@vK]`` or ``chunk:PATH``: the action-chunk diffusion policy; options override
    its acting config (``sampler``, ``sampler_steps``, ``action_horizon``)."""
    from adiff_env.planners.chunk_policy import KIND, ChunkPolicy
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ValueError("chunk agent spec needs a model: 'chunk:NAME', 'chunk:NAME@v2' or 'chunk:PATH'.")
    checkpoint = ModelRegistry().load(arg, kind=KIND)
    return ChunkPolicy.from_checkpoint(checkpoint, env, device=device, seed=int(seed), **overrides)


register_agent("chunk", _chunk_factory, "Diffusion-Policy-style action-chunk agent from the registry "
               "(CHUNK:NAME[@vN] | CHUNK:PATH)")
