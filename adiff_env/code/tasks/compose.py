"""Compositional task families: programs built from composable primitives, deterministic by seed.

Two pipelines, each a composition of named primitives:

- **list pipelines** over ``xs: list[int]`` = ``FOLD(MAP(x) for x in xs if FILTER(x))`` with a
  fold (``list``, ``sum``, ``max``, ``min``, ``product``, ``count``), an element map (``id``,
  ``add``, ``sub``, ``mul``, ``square``, ``negate``, ``abs``) and a filter (``all``, ``even``,
  ``odd``, ``positive``, ``negative``, ``greater``, ``less``, ``divisible``); e.g.
  ``sum_square_even`` = "the sum of the squares of the even values". ``count`` takes only ``id``;
- **string pipelines** over ``s: str`` = two string ops applied in order (``upper``, ``lower``,
  ``swapcase``, ``reverse``, ``strip``, ``capitalize``, ``underscores``, ``first``, ``dropfirst``),
  e.g. ``reverse_then_upper``.

Parameters (``add 3``, ``greater than 7``, ``first 4 characters``) are drawn per seed as the
hand-written families draw theirs, stated as digits in the prompt; the description, the
signature, the reference and its style variants are all generated from the composition, and
the hidden tests come from running the reference on edge and random inputs
(:func:`adiff_env.code.tasks.procedural.generate`).

Split (:data:`HELD_OUT_PAIRS`): a composition is held out ("compose-test") when it contains one
of the listed primitive pairs; every other composition trains ("compose-train"). Every
primitive appears in training; only those pairs never appear together there. The four fully
held-out hand-written families stay in "test".
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from adiff_env.code.tasks.families import Spec, _ints, _near, _word
from adiff_env.errors import UnknownNameError

Params = dict[str, int]


@dataclass(frozen=True)
class Primitive:
    """One building block. ``code``/``text`` are ``str.format`` templates over ``params``
    (and ``x`` / ``s`` for the element); ``draw(rng) -> params``."""

    name: str
    role: str  # "fold", "map", "filter" or "strop"
    code: str
    text: str
    draw: Callable[[random.Random], Params] = lambda rng: {}


def _k(lo: int, hi: int, key: str = "k") -> Callable[[random.Random], Params]:
    return lambda rng: {key: rng.randint(lo, hi)}


# ---- list primitives --------------------------------------------------------------------
MAPS = {p.name: p for p in (
    Primitive("id", "map", "x", "x"),
    Primitive("add", "map", "x + {k}", "x increased by {k}", _k(1, 9)),
    Primitive("sub", "map", "x - {k}", "x decreased by {k}", _k(1, 9)),
    Primitive("mul", "map", "x * {k}", "x multiplied by {k}", _k(2, 9)),
    Primitive("square", "map", "x * x", "the square of x"),
    Primitive("negate", "map", "-x", "the negation of x"),
    Primitive("abs", "map", "abs(x)", "the absolute value of x"),
)}
FILTERS = {p.name: p for p in (
    Primitive("all", "filter", "", ""),
    Primitive("even", "filter", "x % 2 == 0", "even"),
    Primitive("odd", "filter", "x % 2 == 1", "odd"),
    Primitive("positive", "filter", "x > 0", "positive"),
    Primitive("negative", "filter", "x < 0", "negative"),
    Primitive("greater", "filter", "x > {t}", "greater than {t}", _k(-5, 15, "t")),
    Primitive("less", "filter", "x < {t}", "less than {t}", _k(-5, 15, "t")),
    Primitive("divisible", "filter", "x % {d} == 0", "divisible by {d}", _k(3, 9, "d")),
)}
FOLDS = {p.name: p for p in (
    Primitive("list", "fold", "[{m} for x in xs{if_}]", "Return the list of {m} for each value x of the list xs{that}, in order."),
    Primitive("sum", "fold", "sum({m} for x in xs{if_})",
              "Return the sum of {m} for each value x of the list xs{that} (0 if there are none)."),
    Primitive("max", "fold", "max(({m} for x in xs{if_}), default=0)",
              "Return the largest of {m} for each value x of the list xs{that} (0 if there are none)."),
    Primitive("min", "fold", "min(({m} for x in xs{if_}), default=0)",
              "Return the smallest of {m} for each value x of the list xs{that} (0 if there are none)."),
    Primitive("product", "fold", "", "Return the product of {m} for each value x of the list xs{that} (1 if there are none)."),
    Primitive("count", "fold", "sum(1 for x in xs{if_})", "Return how many values x of the list xs are {that}."),
)}

# ---- string primitives (applied to s in order) ------------------------------------------
STROPS = {p.name: p for p in (
    Primitive("upper", "strop", "{s}.upper()", "converted to upper case"),
    Primitive("lower", "strop", "{s}.lower()", "converted to lower case"),
    Primitive("swapcase", "strop", "{s}.swapcase()", "with the case of every letter swapped"),
    Primitive("reverse", "strop", "{s}[::-1]", "reversed"),
    Primitive("strip", "strop", "{s}.strip()", "with leading and trailing whitespace removed"),
    Primitive("capitalize", "strop", "{s}.capitalize()", "capitalized (first character upper case, the rest lower case)"),
    Primitive("underscores", "strop", "{s}.replace(' ', '_')", "with every space replaced by an underscore"),
    Primitive("first", "strop", "{s}[:{k}]", "cut to its first {k} characters", _k(2, 6)),
    Primitive("dropfirst", "strop", "{s}[{k}:]", "without its first {k} characters", _k(1, 4)),
)}
PRIMITIVES: dict[str, dict[str, Primitive]] = {"fold": FOLDS, "map": MAPS, "filter": FILTERS, "strop": STROPS}

# A composition containing any of these pairs is held out (split "compose-test").
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("square", "even"), ("negate", "positive"), ("add", "odd"), ("abs", "negative"), ("mul", "greater"),
    ("sub", "divisible"), ("max", "square"), ("sum", "abs"), ("min", "negate"), ("product", "add"),
    ("list", "mul"), ("count", "less"), ("max", "odd"),
    ("reverse", "upper"), ("lower", "first"), ("strip", "swapcase"), ("underscores", "capitalize"),
    ("dropfirst", "reverse"),
)


@dataclass(frozen=True)
class Composition:
    """``parts``: ``(fold, map, filter)`` for a list pipeline, ``(op1, op2)`` for a string one."""

    parts: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "compose-list" if len(self.parts) == 3 else "compose-string"

    @property
    def name(self) -> str:
        return "_".join(self.parts) if len(self.parts) == 3 else f"{self.parts[0]}_then_{self.parts[1]}"

    def pairs(self) -> set[tuple[str, str]]:
        return {(a, b) for a in self.parts for b in self.parts if a != b}

    @property
    def split(self) -> str:
        return "compose-test" if self.pairs() & set(HELD_OUT_PAIRS) else "compose-train"


def _check(role: str, name: str) -> Primitive:
    table = PRIMITIVES[role]
    if name not in table:
        raise UnknownNameError(f"{'string op' if role == 'strop' else role} primitive", name, list(table))
    return table[name]


def compose(*parts: str) -> Composition:
    """A composition by primitive names: ``compose("sum", "square", "even")`` or
    ``compose("reverse", "upper")``; unknown names raise UnknownNameError listing the valid ones."""
    if len(parts) == 3:
        fold, fmap, filt = parts
        _check("fold", fold), _check("map", fmap), _check("filter", filt)
        if fold == "count" and fmap != "id":
            raise ValueError(f"a count pipeline takes map 'id' (it counts values), got map {fmap!r}.")
    elif len(parts) == 2:
        if parts[0] == parts[1]:
            raise ValueError(f"a string pipeline needs two different ops, got {parts[0]!r} twice.")
        _check("strop", parts[0]), _check("strop", parts[1])
    else:
        raise ValueError(f"a composition is (fold, map, filter) or (op1, op2), got {len(parts)} parts: {parts!r}.")
    return Composition(tuple(parts))


def all_compositions() -> list[Composition]:
    """Every composition, in a fixed order (list pipelines first)."""
    out = [Composition((f, m, c)) for f in FOLDS for m in MAPS for c in FILTERS if f != "count" or m == "id"]
    out += [Composition((a, b)) for a in STROPS for b in STROPS if a != b]
    return out


COMPOSITIONS: dict[str, Composition] = {c.name: c for c in all_compositions()}


def parse(name: str) -> Composition:
    """The composition named ``name`` (``sum_square_even``, ``reverse_then_upper``); a name of
    that shape with an unknown part raises the error naming that part and its options."""
    if name in COMPOSITIONS:
        return COMPOSITIONS[name]
    first, sep, second = name.partition("_then_")
    parts = (first, second) if sep else tuple(name.split("_"))
    if len(parts) in (2, 3) and all(parts):
        compose(*parts)  # raises for the unknown part
    raise UnknownNameError("composition", name, ["FOLD_MAP_FILTER (e.g. sum_square_odd)",
                                                 "OP1_then_OP2 (e.g. reverse_then_lower)"])


# ---- instances --------------------------------------------------------------------------

def _draw(comp: Composition, rng: random.Random) -> Params:
    params: Params = {}
    roles = ("fold", "map", "filter") if comp.kind == "compose-list" else ("strop", "strop")
    for role, part in zip(roles, comp.parts):
        drawn = PRIMITIVES[role][part].draw(rng)
        if comp.kind == "compose-string" and "k" in drawn and "k" in params:
            drawn = {"k2": drawn["k"]}
        params.update(drawn)
    return params


def _list_parts(comp: Composition, params: Params) -> tuple[str, str, str]:
    fold, fmap, filt = comp.parts
    return fold, MAPS[fmap].code.format(**params), FILTERS[filt].code.format(**params)


def _list_programs(comp: Composition, params: Params) -> list[str]:
    """Reference first, then the loop variant and a list-comprehension variant."""
    fold, m, f = _list_parts(comp, params)
    name, sig = comp.name, f"def {comp.name}(xs: list[int]) -> {'list[int]' if fold == 'list' else 'int'}:"
    cond = f"        if {f}:\n" if f else ""
    ind = "            " if f else "        "
    if_ = f" if {f}" if f else ""
    if fold == "product":
        ref = f"{sig}\n    result = 1\n    for x in xs:\n{cond}{ind}result *= {m}\n    return result\n"
        alt = (f"def {name}(xs):\n    out = 1\n    for v in [{m} for x in xs{if_}]:\n        out = out * v\n"
               f"    return out\n")
        return [ref, alt]
    ref = f"{sig}\n    return {FOLDS[fold].code.format(m=m, if_=if_)}\n"
    if fold == "list":
        loop = f"def {name}(xs):\n    result = []\n    for x in xs:\n{cond}{ind}result.append({m})\n    return result\n"
        alt = f"def {name}(xs):\n    return list(map(lambda x: {m}, filter(lambda x: {f or 'True'}, xs)))\n"
    elif fold in ("sum", "count"):
        term = "1" if fold == "count" else m
        loop = f"def {name}(xs):\n    total = 0\n    for x in xs:\n{cond}{ind}total += {term}\n    return total\n"
        alt = f"def {name}(xs):\n    return sum([{term} for x in xs{if_}])\n"
    else:  # max / min
        loop = (f"def {name}(xs):\n    vals = [{m} for x in xs{if_}]\n    if not vals:\n        return 0\n"
                f"    return {fold}(vals)\n")
        alt = f"def {name}(xs):\n    vals = [{m} for x in xs{if_}]\n    return {fold}(vals) if vals else 0\n"
    return [ref, loop, alt]


def _str_expr(comp: Composition, params: Params, var: str) -> str:
    expr = var
    for i, op in enumerate(comp.parts):
        k = params.get("k2" if i == 1 and "k2" in params else "k", 0)
        expr = STROPS[op].code.format(s=expr, k=k)
    return expr


def _str_programs(comp: Composition, params: Params) -> list[str]:
    name = comp.name
    ref = f"def {name}(s: str) -> str:\n    return {_str_expr(comp, params, 's')}\n"
    one = STROPS[comp.parts[0]].code.format(s="s", k=params.get("k", 0))
    two_k = params.get("k2", params.get("k", 0))
    two = STROPS[comp.parts[1]].code.format(s="t", k=two_k)
    loop = f"def {name}(s):\n    t = {one}\n    return {two}\n"
    return [ref, loop]


def _describe(comp: Composition, params: Params) -> str:
    if comp.kind == "compose-list":
        fold, fmap, filt = comp.parts
        pred = FILTERS[filt].text.format(**params)
        if fold == "count":
            return f"Return how many values x of the list xs are {pred}." if pred else "Return how many values the list xs has."
        that = f" that is {pred}" if pred else ""
        return FOLDS[fold].text.format(m=MAPS[fmap].text.format(**params), that=that)
    a, b = comp.parts
    k1 = params.get("k", 0)
    k2 = params.get("k2", params.get("k", 0))
    return (f"Return the string s {STROPS[a].text.format(k=k1)}, and then {STROPS[b].text.format(k=k2)}.")


def _list_cases(comp: Composition, params: Params, rng: random.Random) -> tuple[list[tuple], Callable]:
    centers = [params[k] for k in ("t",) if k in params] or [0]
    d = params.get("d", 2)
    cases: list[tuple] = [([],), ([0],), ([1],), ([-1],), ([2, -3, 4, -5],), (list(range(-4, 5)),),
                          ([d, 2 * d, d + 1, -d],), (_near(rng, 8, centers, 12),), (_ints(rng, 7, -12, 12),),
                          ([c + j for c in centers for j in (-1, 0, 1)],), ([-7, -6, 6, 7, 9, -9],)]
    short = comp.parts[0] == "product"
    hi = 6 if short else 10

    def fuzz(r: random.Random) -> tuple:
        return (_near(r, r.randint(0, hi), centers, 12) if r.random() < 0.5 else _ints(r, r.randint(0, hi), -12, 12),)

    return cases, fuzz


def _text(rng: random.Random) -> str:
    words = [_word(rng, rng.randint(1, 6)) for _ in range(rng.randint(1, 4))]
    words = [w.capitalize() if rng.random() < 0.3 else w.upper() if rng.random() < 0.15 else w for w in words]
    pad = " " * rng.randint(0, 2)
    return pad + " ".join(words) + " " * rng.randint(0, 2)


def _str_cases(rng: random.Random) -> tuple[list[tuple], Callable]:
    cases = [("",), ("a",), ("Hello World",), ("  padded text ",), ("abcdefgh",), ("MiXeD CaSe wOrDs",),
             (_text(rng),), (_text(rng),)]
    return cases, lambda r: (_text(r),)


def draw_composition(name: str, rng: random.Random) -> Spec:
    """One instance (a :class:`~adiff_env.code.tasks.families.Spec`) of composition ``name``."""
    comp = parse(name)
    params = _draw(comp, rng)
    if comp.kind == "compose-list":
        programs = _list_programs(comp, params)
        sig = programs[0].splitlines()[0]
        cases, fuzz = _list_cases(comp, params, rng)
    else:
        programs = _str_programs(comp, params)
        sig = programs[0].splitlines()[0]
        cases, fuzz = _str_cases(rng)
    return Spec(comp.name, sig, _describe(comp, params), programs[0], cases, fuzz, dict(params))


def variant_programs(name: str, params: Params) -> list[str]:
    """Style variants (after the reference) of composition ``name`` with ``params``."""
    comp = parse(name)
    programs = _list_programs(comp, params) if comp.kind == "compose-list" else _str_programs(comp, params)
    return programs[1:]


def composition_families() -> dict[str, tuple[str, str, Callable[[random.Random], Spec]]]:
    """``name -> (split, kind, factory)`` for every composition (the shape of ``FAMILIES``)."""
    return {c.name: (c.split, c.kind, (lambda rng, n=c.name: draw_composition(n, rng))) for c in COMPOSITIONS.values()}
