"""Procedural generator of small function-writing tasks, deterministic by seed.

``generate(family, seed) -> Task``: the family (see :mod:`adiff_env.code.tasks.families`) draws
its parameters from ``random.Random(f"{family}:{seed}")`` (string seeds hash with SHA-512, so
the result does not depend on ``PYTHONHASHSEED`` or the platform), writes the prompt (the
description with the parameters as digits, then the signature), the reference solution and
the hidden tests: one ``assert ENTRY(ARGS) == EXPECTED`` per test input, with ``EXPECTED``
computed by running the reference.

Train and test splits are BY FAMILY: ``procedural:test`` holds only families that
``procedural:train`` never shows, so scores on it measure generalization to new families.
``compose-train`` / ``compose-test`` are the compositional families
(:mod:`adiff_env.code.tasks.compose`): the test split holds unseen combinations of primitives
that all appear in training; ``mixed-train`` is ``train`` + ``compose-train``.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.compose import composition_families
from adiff_env.code.tasks.families import FAMILIES, Spec
from adiff_env.errors import UnknownNameError

SPLITS = ("train", "test", "compose-train", "compose-test", "mixed-train")
# "compose-*": the compositional families (adiff_env.code.tasks.compose); "mixed-train" = train + compose-train
ALL_FAMILIES = {**FAMILIES, **composition_families()}
_SPLIT_MEMBERS = {"mixed-train": ("train", "compose-train")}
DEFAULT_COUNT = 50  # instances per family in a suite: seeds start .. start + count - 1
EPISODE_HIDDEN = 4  # hidden tests an episode adds to the task's own, drawn from the episode seed
PUBLIC_EXAMPLES = 2  # public examples per episode (shown in the feedback, never scored)


@dataclass(frozen=True)
class FamilyInfo:
    name: str
    split: str  # "train" or "test"
    kind: str  # "list", "string", "arithmetic" or "counting"


def families(split: str | None = None) -> list[FamilyInfo]:
    """The hand-written families (``split=None``), or those of one split (``SPLITS``; the
    compositional families only through "compose-train" / "compose-test" / "mixed-train"),
    in a fixed order."""
    if split is not None and split not in SPLITS:
        raise UnknownNameError("procedural split", split, SPLITS)
    if split is None:
        return [FamilyInfo(n, s, k) for n, (s, k, _) in FAMILIES.items()]
    members = _SPLIT_MEMBERS.get(split, (split,))
    return [FamilyInfo(n, s, k) for n, (s, k, _) in ALL_FAMILIES.items() if s in members]


def _unknown_family(name: str) -> None:
    """Raise for an unknown family: the bad primitive of a composition-shaped name, else the
    hand-written families and the two composition shapes (360 names would drown the hint)."""
    from adiff_env.code.tasks.compose import parse

    if "_then_" in name or name.count("_") == 2:
        try:
            parse(name)
        except UnknownNameError as exc:
            if "primitive" in exc.what:
                raise
    raise UnknownNameError("procedural family", name, [*FAMILIES, "FOLD_MAP_FILTER (compositions, e.g. sum_square_odd)",
                                                      "OP1_then_OP2 (compositions, e.g. reverse_then_lower)"])


def draw_spec(family: str, seed: int) -> Spec:
    """The family's parameters, reference and test inputs for ``seed`` (no tests evaluated)."""
    if family not in ALL_FAMILIES:
        _unknown_family(family)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r}).")
    return ALL_FAMILIES[family][2](random.Random(f"{family}:{seed}"))


def load_function(source: str, entry_point: str):
    """Execute trusted generator source (a reference or a mutant) and return its entry point."""
    namespace: dict = {}
    exec(compile(source, f"<{entry_point}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[entry_point]


def _call(fn, args: tuple):
    return fn(*copy.deepcopy(args))


def render_call(entry_point: str, args: tuple) -> str:
    return f"{entry_point}({', '.join(repr(a) for a in args)})"


def make_prompt(spec: Spec) -> str:
    return f"Write a Python function {spec.entry_point}. {spec.description}\n\n{spec.signature}\n"


def generate(family: str, seed: int) -> Task:
    """One task of ``family`` for ``seed``. The same (family, seed) always gives the same task."""
    spec = draw_spec(family, seed)
    reference = load_function(spec.solution, spec.entry_point)
    tests = []
    seen: set[str] = set()
    for args in spec.cases:
        call = render_call(spec.entry_point, args)
        if call in seen:
            continue
        seen.add(call)
        tests.append(f"assert {call} == {_call(reference, args)!r}")
    split, kind, _ = ALL_FAMILIES[family]
    return Task(
        task_id=f"procedural/{family}/{seed}",
        prompt=make_prompt(spec),
        tests=tuple(tests),
        entry_point=spec.entry_point,
        setup="",
        solution=spec.solution,
        meta={"source": "procedural", "family": family, "split": split, "kind": kind, "seed": seed,
              "params": dict(spec.params)},
    )


def episode_tests(task: Task, episode_seed: int, hidden: int = EPISODE_HIDDEN,
                  public: int = PUBLIC_EXAMPLES) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(public, hidden)`` tests of one episode of the procedural ``task``.

    ``hidden`` = the task's own tests (the edge cases that kill mutants) followed by ``hidden``
    tests on inputs drawn from ``random.Random(f"{family}:{seed}:episode:{episode_seed}")`` with
    the family's fuzz distribution; ``public`` examples are drawn from the same stream. Every
    drawn call is distinct from the others and from the task's own, so a public example never
    answers a hidden test, and expected values that leaked in one episode miss the next.
    """
    if task.meta.get("source") != "procedural":
        raise ValueError(f"Task {task.task_id!r} is not a procedural task; only those draw episode tests.")
    family, seed = task.meta["family"], task.meta["seed"]
    spec = draw_spec(family, seed)
    reference = load_function(spec.solution, spec.entry_point)
    rng = random.Random(f"{family}:{seed}:episode:{int(episode_seed)}")
    seen = {render_call(spec.entry_point, args) for args in spec.cases}
    drawn: list[str] = []
    for _ in range(50 * (hidden + public)):
        if len(drawn) == hidden + public:
            break
        args = spec.fuzz(rng)
        call = render_call(spec.entry_point, args)
        if call not in seen:
            seen.add(call)
            drawn.append(f"assert {call} == {_call(reference, args)!r}")
    return tuple(drawn[:public]), tuple(task.tests) + tuple(drawn[public:])


def generate_suite(names: list[str], count: int = DEFAULT_COUNT, start: int = 0) -> list[Task]:
    """Tasks for each family in ``names`` and each seed in ``start .. start + count - 1``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    return [generate(name, seed) for name in names for seed in range(start, start + count)]


def load_procedural(name: str, count: int = DEFAULT_COUNT, start: int = 0) -> list[Task]:
    """``name`` is a split ("train", "test") or a family name."""
    if name in SPLITS:
        names = [f.name for f in families(name)]
    elif name in ALL_FAMILIES:
        names = [name]
    else:
        raise UnknownNameError("procedural suite", name, [*SPLITS, *FAMILIES, "FOLD_MAP_FILTER", "OP1_then_OP2"])
    return generate_suite(names, count=count, start=start)
