"""Candidate inputs for generated tests: seeds from the given tests, then the generators.

A task's *seed inputs* are the argument tuples of the calls of its entry point (or a plain
forwarder such as HumanEval's ``candidate``) in its tests and public examples whose arguments
are all literals (:func:`seed_inputs`). Types are inferred from those values, position by
position (a list of ints, a str over some alphabet, a tuple of a float and a str, ...), and
three generators here draw new argument tuples of the same shapes (four more, ``structured``,
``small``, ``chain`` and ``constant``, are in :mod:`adiff_env.code.tasks.augment_structured`;
:func:`candidates` draws them all in turn):

- ``boundary``: one argument of a seed input replaced by a boundary value of its type --
  ``0``, ``1``, ``2``, ``-1``, a large magnitude (``10**6``); ``0.0``, ``-1.5``; ``""``, one char, a
  long string (200 chars); ``[]``, one element, a long list (100 elements); ``{}``;
- ``mutation``: one argument of a seed input changed a little -- an int ``+-1``, negated,
  doubled; a char inserted, deleted or replaced, case swapped, reversed (in a string of
  words: a word deleted, inserted or swapped, or the words reversed); a list element
  removed, duplicated, swapped, mutated, or the list reversed;
- ``random``: every argument drawn afresh, like a random seed value of that position
  (same type, similar size, characters from the seen alphabet, or a string of its words).

Every draw comes from a :class:`random.Random` the caller seeds (nothing iterates over a set
or a hash order), so the same seed gives the same candidates. Values are plain data only
(None, bool, int, float, str, list, tuple, dict), the types the sandbox's codec sends.
"""

from __future__ import annotations

import ast
import math
import random
import string
from collections.abc import Iterable
from dataclasses import dataclass

LARGE_INT = 10**6
LONG_STR = 200
LONG_LIST = 100
_ALPHABET = string.ascii_letters + string.digits + " "


@dataclass(frozen=True)
class Candidate:
    """One candidate input: ``args`` for the entry point, how it was made and from which test."""

    args: tuple
    kind: str  # "boundary", "mutation", "random", "structured", "small" or "chain"
    source_test: int | None  # index (into tests + public_tests) of the seed input's test
    detail: str  # e.g. "arg 0 -> []"


@dataclass(frozen=True)
class Seed:
    args: tuple
    test: int | None  # index into tests + public_tests; None: traced from the tests' run


def finite(value: object) -> bool:
    """True when no float inside ``value`` (lists, tuples, sets, dicts, nested) is inf or nan:
    only such answers can be written into a test and compared exactly."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple, set):
        return all(finite(v) for v in value)
    if type(value) is dict:
        return all(finite(k) and finite(v) for k, v in value.items())
    return True


def seed_inputs(tests: Iterable[str], names: Iterable[str]) -> list[Seed]:
    """Literal argument tuples of the calls of ``names`` in ``tests`` (first seen order, unique)."""
    names = set(names)
    out: list[Seed] = []
    seen: set[str] = set()
    for index, source in enumerate(tests):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names):
                continue
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                continue
            try:
                args = tuple(ast.literal_eval(a) for a in node.args)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            if not all(is_plain(a) for a in args):
                continue
            key = typed_key(args)
            if key not in seen:
                seen.add(key)
                out.append(Seed(args, index))
    return out


def is_plain(value: object) -> bool:
    """Plain data the generators handle (no sets, bytes or complex)."""
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) in (list, tuple):
        return all(is_plain(v) for v in value)
    if type(value) is dict:
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    return False


def typed_key(value: object) -> str:
    """A key telling apart values ``==`` confuses (``1`` / ``True`` / ``1.0``, list / tuple)."""
    if type(value) in (list, tuple):
        return f"{type(value).__name__}[{','.join(typed_key(v) for v in value)}]"
    if type(value) is dict:
        return "dict{" + ",".join(f"{typed_key(k)}:{typed_key(v)}" for k, v in value.items()) + "}"
    return f"{type(value).__name__}:{value!r}"


def _alphabet(text: str) -> str:
    chars = "".join(sorted(set(text)))
    return chars if len(chars) >= 2 else _ALPHABET


def random_like(template: object, rng: random.Random, depth: int = 0) -> object:
    """A random value of the same type and similar size as ``template``."""
    kind = type(template)
    if template is None:
        return None
    if kind is bool:
        return rng.random() < 0.5
    if kind is int:
        span = max(10, 2 * abs(template))
        low = 0 if template >= 0 and rng.random() < 0.7 else -span
        return rng.randint(low, span)
    if kind is float:
        span = max(10.0, 2 * abs(template))
        return round(rng.uniform(-span if rng.random() < 0.4 else 0.0, span), rng.choice([1, 2, 3]))
    if kind is str:
        words = template.split()
        if len(words) > 1 and rng.random() < 0.5:  # a sentence of the template's words
            return " ".join(rng.choice(words) for _ in range(rng.randint(0, 2 * len(words))))
        alphabet = _alphabet(template)
        n = rng.randint(0, max(3, 2 * len(template)))
        return "".join(rng.choice(alphabet) for _ in range(n))
    if kind in (list, tuple):
        if kind is tuple and template:
            return tuple(random_like(v, rng, depth + 1) for v in template)
        if not template or depth > 3:
            return kind()
        n = rng.randint(0, max(3, 2 * len(template)))
        return kind(random_like(rng.choice(template), rng, depth + 1) for _ in range(n))
    if kind is dict:
        if not template or depth > 3:
            return {}
        items = list(template.items())
        out: dict = {}
        for _ in range(rng.randint(0, max(3, 2 * len(items)))):
            k, v = rng.choice(items)
            out[random_like(k, rng, depth + 1)] = random_like(v, rng, depth + 1)
        return out
    return template


def boundary_values(template: object, rng: random.Random) -> list[tuple[object, str]]:
    """Boundary values of ``template``'s type, each with a short description."""
    kind = type(template)
    if kind is bool:
        return [(not template, str(not template))]
    if kind is int:
        return [(0, "0"), (1, "1"), (2, "2"), (-1, "-1"), (-abs(template) - 1, "negative"), (LARGE_INT, "large"),
                (-LARGE_INT, "large negative")]
    if kind is float:
        return [(0.0, "0.0"), (-1.5, "-1.5"), (1e6, "large"), (0.5, "0.5")]
    if kind is str:
        alphabet = _alphabet(template)
        return [("", "empty"), (rng.choice(alphabet), "one char"),
                ("".join(rng.choice(alphabet) for _ in range(LONG_STR)), "long")]
    if kind is list:
        out = [([], "empty")]
        if template:
            out.append(([template[0]], "single element"))
            out.append(([random_like(rng.choice(template), rng, 1) for _ in range(LONG_LIST)], "long"))
            out.append((list(template) + list(template), "doubled"))
        return out
    if kind is tuple:
        return [] if template else [((), "empty")]
    if kind is dict:
        return [({}, "empty")] if template else []
    return []


def mutate_value(value: object, rng: random.Random, depth: int = 0) -> tuple[object, str]:
    """``value`` changed a little (see the module docstring), with a description."""
    kind = type(value)
    if kind is bool:
        return not value, "flip"
    if kind is int:
        choice = rng.randrange(4)
        return [(value + 1, "+1"), (value - 1, "-1"), (-value, "negate"), (2 * value, "double")][choice]
    if kind is float:
        return rng.choice([(value + 1.0, "+1.0"), (-value, "negate"), (value / 2, "halve"), (round(value, 1), "round")])
    if kind is str:
        alphabet = _alphabet(value)
        if not value:
            return rng.choice(alphabet), "insert char"
        i = rng.randrange(len(value))
        words = value.split(" ")
        if len(words) > 1 and rng.random() < 0.5:  # word level: keep the tokens valid
            k, m = rng.randrange(len(words)), rng.randrange(len(words))
            swapped = list(words)
            swapped[k], swapped[m] = swapped[m], swapped[k]
            return rng.choice([
                (" ".join(words[:k] + words[k + 1:]), f"delete word {k}"),
                (" ".join(words[:k] + [words[m]] + words[k:]), f"insert word {words[m]!r} at {k}"),
                (" ".join(swapped), f"swap words {k}, {m}"), (" ".join(words[::-1]), "reverse words"),
            ])
        return rng.choice([
            (value[:i] + value[i + 1:], f"delete char {i}"),
            (value[:i] + rng.choice(alphabet) + value[i:], f"insert char at {i}"),
            (value[:i] + rng.choice(alphabet) + value[i + 1:], f"replace char {i}"),
            (value.swapcase(), "swap case"), (value[::-1], "reverse"),
        ])
    if kind in (list, tuple):
        items = list(value)
        if not items:
            return value, "unchanged"
        i, j = rng.randrange(len(items)), rng.randrange(len(items))
        if kind is tuple:
            new, note = mutate_value(items[i], rng, depth + 1)
            items[i] = new
            return tuple(items), f"element {i}: {note}"
        op = rng.randrange(6)
        if op == 0:
            return items[:i] + items[i + 1:], f"remove element {i}"
        if op == 1:
            return items[:i] + [items[i]] + items[i:], f"duplicate element {i}"
        if op == 2:
            items[i], items[j] = items[j], items[i]
            return items, f"swap elements {i}, {j}"
        if op == 3:
            return items[::-1], "reverse"
        if op == 4:
            return items + [random_like(items[j], rng, depth + 1)], "append element"
        new, note = mutate_value(items[i], rng, depth + 1)
        items[i] = new
        return items, f"element {i}: {note}"
    if kind is dict and value:
        items = list(value.items())
        k, v = items[rng.randrange(len(items))]
        new, note = mutate_value(v, rng, depth + 1)
        return {**value, k: new}, f"value of {k!r}: {note}"
    return value, "unchanged"
