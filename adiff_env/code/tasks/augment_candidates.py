"""Candidate inputs for generated tests: the boundary values of each argument first, then the
input kinds of :data:`KINDS` drawn in turn (mutated and random values from
:mod:`adiff_env.code.tasks.augment_inputs`; structured, small-scope, chained and constant-pool
values from :mod:`adiff_env.code.tasks.augment_structured`)."""

from __future__ import annotations

import random
from dataclasses import replace

from adiff_env.code.tasks.augment_inputs import Candidate, Seed, boundary_values, mutate_value, random_like, typed_key
from adiff_env.code.tasks.augment_structured import Hints, chain_args, constant_substitutions, small_like, structured_args

KINDS = ("mutation", "random", "structured", "small", "chain", "constant")  # drawn in turn after the boundary ones


def candidates(seeds: list[Seed], rng: random.Random, count: int, hints=None) -> list[Candidate]:
    """Up to ``count`` distinct candidates (not equal to a seed): boundary ones first (at most a
    quarter of ``count``), then the :data:`KINDS` drawn in turn (``structured``, ``small`` and
    ``chain``: :mod:`adiff_env.code.tasks.augment_structured`, steered by ``hints``, a
    :class:`~adiff_env.code.tasks.augment_structured.Hints` of the reference). Empty without seeds."""
    if not seeds or count < 1:
        return []
    vocabulary = sorted({w for s in seeds for a in s.args if type(a) is str for w in a.split()})
    hints = replace(hints or Hints(), words=tuple(vocabulary[:200]))
    seen = {typed_key(s.args) for s in seeds}
    out: list[Candidate] = []

    def add(args: tuple, kind: str, test: int | None, detail: str) -> None:
        key = typed_key(args)
        if key not in seen and len(out) < count:
            seen.add(key)
            out.append(Candidate(args, kind, test, detail))

    groups: dict[str, list] = {}  # one group per (argument, boundary kind): each kind of each argument first
    for seed in seeds:
        for pos, value in enumerate(seed.args):
            for new, note in boundary_values(value, rng):
                detail = f"arg {pos} -> {note}"
                groups.setdefault(detail, []).append((seed.args[:pos] + (new,) + seed.args[pos + 1:], seed.test))
    boundary = []
    for detail, members in groups.items():
        rng.shuffle(members)
        boundary += [(rank, args, test, detail) for rank, (args, test) in enumerate(members)]
    rng.shuffle(boundary)
    boundary.sort(key=lambda b: b[0])  # stable: rank 0 of every group, then rank 1, ...
    for _, args, test, detail in boundary[: max(1, count // 4)]:
        add(args, "boundary", test, detail)
    constants = constant_substitutions(seeds, hints, rng)[::-1]  # popped from the end: shuffled order
    for attempt in range(20 * count):
        if len(out) >= count:
            break
        seed = seeds[rng.randrange(len(seeds))]
        kind = KINDS[attempt % len(KINDS)]
        if not seed.args and kind != "random":
            continue
        if kind == "mutation":
            pos = rng.randrange(len(seed.args))
            new, note = mutate_value(seed.args[pos], rng)
            add(seed.args[:pos] + (new,) + seed.args[pos + 1:], "mutation", seed.test, f"arg {pos}: {note}")
        elif kind == "structured":
            args, note = structured_args(seed.args, rng, hints)
            add(args, "structured", seed.test, note)
        elif kind == "chain":
            args, note = chain_args(seed.args, rng, hints)
            add(args, "chain", seed.test, note)
        elif kind == "constant":
            if constants:
                args, test, note = constants.pop()
                add(args, "constant", test, note)
        elif kind == "small":
            add(tuple(small_like(a, rng, 0, hints) for a in seed.args), "small", seed.test, "small-scope values")
        else:
            template = seeds[rng.randrange(len(seeds))].args
            pool = [s.args for s in seeds if len(s.args) == len(template)]
            args = tuple(random_like(pool[rng.randrange(len(pool))][p], rng) for p in range(len(template)))
            add(args, "random", None, "random like the seeds")
    return out
