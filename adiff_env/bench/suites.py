"""Bench suites: which env variants a suite runs, and how its short agent names resolve per env.

An **env name** is an env id, optionally with ``gym.make`` keywords in the agent-spec syntax:
``ID[?KEY=VALUE&KEY2=VALUE2]`` (values are JSON where they parse, else text), e.g.
``adiff/FetchPickAndPlace-v0?goal_region=air`` -- the same keys as ``references.json``.

A suite may map its envs to a **task** slug (``fetch-push``, ``fetch-pick-place``) and define
**agent aliases**: a bare ``bc`` on the Fetch suite is ``bc:bc-{task}``, i.e. ``bc:bc-fetch-push``
on the push envs and ``bc:bc-fetch-pick-place`` on pick-and-place. Any agent spec may also
contain ``{task}`` itself (``planner:{task}?reward=task&guidance=x0``). The label in tables
stays the text the user gave, so one row covers every env. ``train_hints`` give, per alias, the
command that makes a missing checkpoint (placeholders ``{env_id}``, ``{task}``, ``{dataset}``).

Pure data and string handling: this module imports no domain (the layering contract).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from adiff_env.errors import ConfigError, UnknownNameError

_FETCH_PICK = "adiff/FetchPickAndPlace-v0"
_FETCH_TRAIN = "--set goal_radius=0.05 --set max_goal_offset=50"


@dataclass(frozen=True)
class BenchSuite:
    """One suite of ``adiff bench`` (module doc).

    ``envs``: env names in table order; ``short``: extra short names for ``--envs``;
    ``tasks``: env name -> task slug; ``datasets``: task slug -> Minari dataset id (train hints);
    ``aliases``: bare agent kind -> spec template; ``default_agents``: used when ``--agents`` is
    not given; ``train_hints``: alias -> command template for a missing checkpoint."""

    name: str
    envs: tuple[str, ...]
    short: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    default_agents: tuple[str, ...] = ()
    train_hints: dict[str, str] = field(default_factory=dict)


FETCH = BenchSuite(
    name="fetch",
    envs=("adiff/FetchPush-v0", f"{_FETCH_PICK}?goal_region=both", f"{_FETCH_PICK}?goal_region=table",
          f"{_FETCH_PICK}?goal_region=air", "adiff/FetchPush-Avoid-v0"),
    short={"push": "adiff/FetchPush-v0", "pick-place": f"{_FETCH_PICK}?goal_region=both",
           "pick-place-table": f"{_FETCH_PICK}?goal_region=table", "pick-place-air": f"{_FETCH_PICK}?goal_region=air",
           "push-avoid": "adiff/FetchPush-Avoid-v0"},
    tasks={"adiff/FetchPush-v0": "fetch-push", "adiff/FetchPush-Avoid-v0": "fetch-push",
           f"{_FETCH_PICK}?goal_region=both": "fetch-pick-place", f"{_FETCH_PICK}?goal_region=table": "fetch-pick-place",
           f"{_FETCH_PICK}?goal_region=air": "fetch-pick-place"},
    datasets={"fetch-push": "adiff/fetch-push-v0", "fetch-pick-place": "adiff/fetch-pickandplace-v0"},
    aliases={"bc": "bc:bc-{task}", "iql": "iql:iql-{task}", "cql": "cql:cql-{task}", "sac-her": "sb3:sac-her-{task}",
             "planner": "planner:{task}", "chunk": "chunk:{task}-chunk"},
    default_agents=("expert", "random", "bc", "iql", "sac-her"),
    train_hints={
        "bc": f"uv run adiff --threads 1 baselines train bc {{env_id}} --dataset {{dataset}} --steps 20000 --name bc-{{task}} {_FETCH_TRAIN}",
        "iql": f"uv run adiff --threads 1 baselines train iql {{env_id}} --dataset {{dataset}} --steps 20000 --name iql-{{task}} {_FETCH_TRAIN}",
        "cql": f"uv run adiff --threads 1 baselines train cql {{env_id}} --dataset {{dataset}} --steps 10000 --name cql-{{task}} {_FETCH_TRAIN}",
        "sac-her": ("uv run adiff --threads 1 baselines train sb3-sac-her {env_id} --steps 80000 --name sac-her-{task} "
                    "--set gamma=0.95 --set learning_rate=0.001 --set tau=0.05 --set learning_starts=1000 "
                    "--set buffer_size=100000 --set 'policy_kwargs={{\"net_arch\":[256,256]}}'"),
        "planner": "the diffusion planner {task}: shipped in planners/pretrained/ (issue 14), or trained into ADIFF_HOME's registry",
        "chunk": "the action-chunk agent {task}-chunk: train it with 'uv run adiff chunk train' into ADIFF_HOME's registry",
    },
)

SUITES: dict[str, BenchSuite] = {
    "maze": BenchSuite("maze", ("adiff/PointMaze-UMaze-v0", "adiff/PointMaze-Medium-v0", "adiff/PointMaze-Large-v0")),
    "goldcoin": BenchSuite("goldcoin", ("adiff/PointMaze-Medium-GoldCoin-v0", "adiff/PointMaze-Large-GoldCoin-v0")),
    "fetch": FETCH,
}


def get_suite(name: str) -> BenchSuite:
    if name not in SUITES:
        raise UnknownNameError("bench suite", name, SUITES)
    return SUITES[name]


def suite_envs(suite: str, envs: list[str] | None = None) -> list[str]:
    """The suite's env names, restricted to ``envs`` (full names, short names such as
    ``pick-place-air``, or unique case-insensitive substrings such as ``UMaze``)."""
    spec = get_suite(suite)
    ids = list(spec.envs)
    if not envs:
        return ids
    chosen = []
    for name in envs:
        hits = ([i for i in ids if i == name] or ([spec.short[name]] if name in spec.short else [])
                or [i for i in ids if name.lower() in i.lower()])
        if len(hits) != 1:
            raise UnknownNameError(f"{suite} env", name, [*ids, *spec.short])
        chosen.append(hits[0])
    return list(dict.fromkeys(chosen))


def split_env_name(name: str) -> tuple[str, dict[str, Any]]:
    """``"ID?k=v&k2=v2"`` -> ``("ID", {"k": v, "k2": v2})`` (JSON values where they parse)."""
    env_id, sep, query = name.partition("?")
    if not env_id:
        raise ConfigError(f"env name {name!r} has no env id before '?'.")
    kwargs: dict[str, Any] = {}
    if sep:
        for pair in query.split("&"):
            key, eq, value = pair.partition("=")
            if not key or not eq:
                raise ConfigError(f"env name {name!r}: expected ID?KEY=VALUE&..., got {pair!r}.")
            if key in kwargs:
                raise ConfigError(f"env name {name!r} gives {key!r} twice.")
            try:
                kwargs[key] = json.loads(value)
            except json.JSONDecodeError:
                kwargs[key] = value
    return env_id, kwargs


def resolve_agent_text(suite: str, label: str, env_name: str) -> str:
    """The agent spec that ``label`` means on ``env_name``: a bare alias (``bc``, optionally
    with ``?options``) becomes the suite's template, then ``{task}`` is the env's task slug."""
    spec = get_suite(suite)
    base, sep, query = label.partition("?")
    if base in spec.aliases:
        base = spec.aliases[base]
    text = base + sep + query
    if "{task}" in text:
        task = spec.tasks.get(env_name)
        if task is None:
            raise ConfigError(f"agent {label!r} uses {{task}}, but suite {suite!r} names no task for env {env_name!r}.")
        text = text.replace("{task}", task)
    return text


def train_hint(suite: str, label: str, env_name: str) -> str | None:
    """The command (or instruction) that makes the checkpoint ``label`` needs on ``env_name``."""
    spec = get_suite(suite)
    base = label.partition("?")[0]
    template = spec.train_hints.get(base)
    if template is None:
        return None
    task = spec.tasks.get(env_name, "")
    return template.format(env_id=split_env_name(env_name)[0], task=task, dataset=spec.datasets.get(task, "DATASET"))
