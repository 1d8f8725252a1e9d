"""Structured candidate inputs: property-preserving mutations, small-scope values, chains, constants.

The generators of :mod:`adiff_env.code.tasks.augment_inputs` change one argument a little or
draw it afresh like a seed value. Mutants of a reference that survive those are mostly
wrong only on inputs with a *structure*: a valid date with a day of 31, a list with equal
neighbours, a Pythagorean triple in another order, a word with a digit in it. Four more
generators aim there (every draw from the caller's :class:`random.Random`):

- ``structured`` (:func:`structured_args`): a property-preserving change of a seed input --
  the arguments of one type permuted (``f(3, 4, 5)`` -> ``f(5, 3, 4)``), all int arguments
  scaled by 2 or 3; a list sorted, sorted descending, shuffled, with a duplicate run, negated,
  every element equal, or small-range elements (``-3..5``, so ties and zeros appear), the same
  done to a nested list's rows; a string with one character replaced by another *of its
  class* (digit -> digit, lower -> lower, ...), a number inside it changed (``"06-04-2020"`` ->
  ``"06-31-2020"``, the width kept), a character of another class inserted (digit,
  punctuation, upper, space), a character or word repeated (a number inside a string becomes
  ``n +- 1``, one of :data:`INTERESTING`, ``10**width - 1`` or a random one of its width);
- ``small`` (:func:`small_like`): every argument replaced by a small-scope value of its type
  (ints ``-3..12``, lists of 0..5 elements drawn from ``-3..5`` or the seed's elements,
  strings of 0..5 characters from the seed's alphabet): the small-scope hypothesis -- most
  wrong programs are wrong on some small input;
- ``chain`` (:func:`chain_args`): two to four mutations stacked (the ``mutation`` and
  ``structured`` kinds), for inputs a single change cannot reach;
- ``constant`` (:func:`constant_substitutions`): a seed input with one integer (an argument,
  a list element, a number inside a string) set to one of the reference's own constants or a
  neighbour (:class:`Hints`), or one of the characters of its string constants inserted --
  white-box boundary values, as test generators seed from a program's constant pool.
"""

from __future__ import annotations

import ast
import random
import re
import string
from dataclasses import dataclass

from adiff_env.code.tasks.augment_inputs import _alphabet, mutate_value

SMALL_INT = (-3, 12)
# numbers a threshold often sits at: small ones, days in a month, decimal and binary boundaries
INTERESTING = (0, 1, 2, 3, 7, 9, 10, 11, 12, 13, 15, 16, 28, 29, 30, 31, 32, 50, 59, 60, 64, 99, 100, 127, 128,
               255, 256, 999, 1000, 1024)
SMALL_ELEMENT = (-3, 5)
_CLASSES = (string.digits, string.ascii_lowercase, string.ascii_uppercase, string.punctuation, " ")
_EXTRA = string.digits + "!?.,;:-_'#@ " + string.ascii_uppercase


@dataclass(frozen=True)
class Hints:
    """What the reference's own text suggests: ``ints``, its integer constants ``c`` with ``c - 1``
    and ``c + 1`` (sorted, unique; thresholds sit there), ``chars``, the characters of its
    short string constants (``"aeiou"``, ``"-"``, ``"()"``: the characters the task talks about),
    and ``words``, the words of all the seed inputs' strings (so a sentence can mix the words
    of two given tests: ``"seven six"`` from ``"five seven"`` and ``"six one"``)."""

    ints: tuple[int, ...] = ()
    chars: str = ""
    words: tuple[str, ...] = ()  # the words of every seed string (set by candidates(): one vocabulary per task)


MAX_HINT = 10**6


def hints_from(source: str) -> Hints:
    """The :class:`Hints` of a reference's source (empty when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return Hints()
    ints: set[int] = set()
    chars: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) <= MAX_HINT:
            ints.update((node.value - 1, node.value, node.value + 1))
        elif isinstance(node, ast.Constant) and type(node.value) is str and 0 < len(node.value) <= 40:
            if "\n" not in node.value:  # not a docstring
                chars.update(node.value)
    return Hints(tuple(sorted(ints)), "".join(sorted(chars)))


def _hint_int(rng: random.Random, hints: Hints | None) -> int:
    return rng.choice(hints.ints) if hints and hints.ints and rng.random() < 0.6 else rng.choice(INTERESTING)


def _hint_char(rng: random.Random, hints: Hints | None) -> str:
    return rng.choice(hints.chars) if hints and hints.chars and rng.random() < 0.5 else rng.choice(_EXTRA)


def _char_class(c: str) -> str | None:
    return next((cls for cls in _CLASSES if c in cls), None)


def _numeric_list(items: list) -> bool:
    return bool(items) and all(type(v) in (int, float) for v in items)


def _sortable(items: list) -> bool:
    kinds = {type(v) for v in items}
    return bool(items) and (kinds <= {int, float} or kinds == {str})


def structured_value(value: object, rng: random.Random, depth: int = 0,
                     hints: Hints | None = None) -> tuple[object, str]:
    """One property-preserving change of ``value`` (see the module docstring), with a description."""
    kind = type(value)
    if kind is int:
        return rng.choice([(value * 2, "double"), (value * 3, "triple"), (value * 10, "times 10"),
                           (value + rng.choice([-2, 2]), "+-2"), (rng.randint(*SMALL_INT), "small"),
                           (_hint_int(rng, hints), "interesting"), (_hint_int(rng, hints), "interesting")])
    if kind is float:
        return rng.choice([(float(round(value)), "rounded"), (round(value) + 0.5, "half"),
                           (-abs(value), "negative"), (value * 2, "double")])
    if kind is str:
        return _structured_str(value, rng, hints)
    if kind is list:
        return _structured_list(value, rng, depth, hints)
    if kind is tuple and value:
        i = rng.randrange(len(value))
        new, note = structured_value(value[i], rng, depth + 1, hints)
        return value[:i] + (new,) + value[i + 1:], f"element {i}: {note}"
    if kind is dict and value:
        items = list(value.items())
        k, v = items[rng.randrange(len(items))]
        new, note = structured_value(v, rng, depth + 1, hints)
        return {**value, k: new}, f"value of {k!r}: {note}"
    return mutate_value(value, rng, depth)


def _structured_str(value: str, rng: random.Random, hints: Hints | None = None) -> tuple[object, str]:
    ops = ["class", "extra", "extra", "repeat"]
    numbers = list(re.finditer(r"\d+", value))
    if numbers:
        ops += ["number"] * 6
    if " " in value.strip():
        ops.append("word")
    op = rng.choice(ops) if value else "extra"
    if op == "number":
        m = numbers[rng.randrange(len(numbers))]
        digits = m.group()
        n = int(digits)
        new = rng.choice([n + 1, n - 1, _hint_int(rng, hints), _hint_int(rng, hints), _hint_int(rng, hints),
                          10 ** len(digits) - 1, rng.randint(0, 10 ** len(digits) - 1), rng.randint(0, 2 * n + 2)])
        text = str(max(new, 0)).zfill(len(digits)) if digits.startswith("0") else str(max(new, 0))
        return value[:m.start()] + text + value[m.end():], f"number {digits} -> {text}"
    if op == "class":
        i = rng.randrange(len(value))
        cls = _char_class(value[i]) or _alphabet(value)
        return value[:i] + rng.choice(cls) + value[i + 1:], f"char {i} -> same class"
    if op == "extra":
        i = rng.randrange(len(value) + 1)
        return value[:i] + _hint_char(rng, hints) + value[i:], f"insert other-class char at {i}"
    if op == "word":
        words = value.split(" ")
        k = rng.randrange(len(words))
        if hints and hints.words and rng.random() < 0.5:
            word = rng.choice(hints.words)
            return " ".join(words[:k] + [word] + words[k:]), f"insert word {word!r} at {k}"
        return " ".join(words[:k + 1] + words[k:]), f"repeat word {k}"
    i = rng.randrange(len(value))
    return value[:i] + value[i] * rng.randint(1, 3) + value[i:], f"repeat char {i}"


def _structured_list(items: list, rng: random.Random, depth: int, hints: Hints | None = None) -> tuple[object, str]:
    if not items:
        return items, "unchanged"
    ops = ["shuffle", "dup run", "all equal"]
    if _sortable(items):
        ops += ["sort", "sort desc"]
    if _numeric_list(items):
        ops += ["negate", "small range", "small range"]
    if all(type(v) in (list, tuple) for v in items) and depth < 3:
        ops += ["row", "row"]
    op = rng.choice(ops)
    out = list(items)
    if op == "shuffle":
        rng.shuffle(out)
    elif op == "dup run":
        i = rng.randrange(len(out))
        out[i:i] = [out[i]] * rng.randint(1, 3)
    elif op == "all equal":
        out = [out[rng.randrange(len(out))]] * len(out)
    elif op == "sort":
        out.sort()
    elif op == "sort desc":
        out.sort(reverse=True)
    elif op == "negate":
        out = [-v for v in out]
    elif op == "small range":
        cast = float if any(type(v) is float for v in out) else int
        out = [cast(rng.randint(*SMALL_ELEMENT)) for _ in range(rng.randint(1, max(2, len(out))))]
    else:  # a nested list: change one row
        i = rng.randrange(len(out))
        out[i], note = structured_value(out[i], rng, depth + 1, hints)
        return out, f"row {i}: {note}"
    return out, op


def structured_args(args: tuple, rng: random.Random, hints: Hints | None = None) -> tuple[tuple, str]:
    """``args`` with one property-preserving change: arguments of one type permuted, all ints
    scaled, or one argument changed by :func:`structured_value`."""
    by_type: dict[type, list[int]] = {}
    for pos, a in enumerate(args):
        by_type.setdefault(type(a), []).append(pos)
    groups = [p for p in by_type.values() if len(p) > 1]
    ints = by_type.get(int, [])
    roll = rng.random()
    if groups and roll < 0.25:
        positions = groups[rng.randrange(len(groups))]
        values = [args[p] for p in positions]
        rng.shuffle(values)
        out = list(args)
        for p, v in zip(positions, values):
            out[p] = v
        return tuple(out), f"permute args {positions}"
    if len(ints) > 1 and roll < 0.35:
        k = rng.choice([2, 3])
        return tuple(a * k if pos in ints else a for pos, a in enumerate(args)), f"int args times {k}"
    pos = rng.randrange(len(args))
    new, note = structured_value(args[pos], rng, 0, hints)
    return args[:pos] + (new,) + args[pos + 1:], f"arg {pos}: {note}"


def small_like(template: object, rng: random.Random, depth: int = 0, hints: Hints | None = None) -> object:
    """A small-scope value of ``template``'s type (see the module docstring)."""
    kind = type(template)
    if kind is bool:
        return rng.random() < 0.5
    if kind is int:
        return rng.randint(*SMALL_INT) if rng.random() < 0.8 else _hint_int(rng, hints)
    if kind is float:
        return rng.choice([float(rng.randint(*SMALL_ELEMENT)), rng.randint(-6, 10) / 2, round(rng.uniform(-3, 5), 1)])
    if kind is str:
        alphabet = _alphabet(template) + (hints.chars if hints and rng.random() < 0.3 else "")
        if " " in template.strip() and rng.random() < 0.5:
            words = list(hints.words) if hints and hints.words and rng.random() < 0.5 else template.split()
            return " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
    if kind is list:
        n = rng.randint(0, 5)
        if template and (not _numeric_list(template) or rng.random() < 0.5):
            return [small_like(rng.choice(template), rng, depth + 1, hints) if depth < 3 else rng.choice(template)
                    for _ in range(n)]
        cast = float if any(type(v) is float for v in template) else int
        return [cast(rng.randint(*SMALL_ELEMENT)) for _ in range(n)]
    if kind is tuple:
        return tuple(small_like(v, rng, depth + 1, hints) for v in template)
    if kind is dict and template:
        items = list(template.items())
        return {small_like(k, rng, depth + 1, hints): small_like(v, rng, depth + 1, hints)
                for k, v in (rng.choice(items) for _ in range(rng.randint(0, 4)))}
    return template


def _substitutions(value: object, hints: Hints, rng: random.Random) -> list[tuple[object, str]]:
    kind = type(value)
    if kind is int:
        return [(c, f"-> {c}") for c in hints.ints if c != value]
    if kind is str:
        out = []
        for m in re.finditer(r"\d+", value):
            for c in hints.ints:
                text = str(c).zfill(len(m.group())) if m.group().startswith("0") and c >= 0 else str(c)
                if text != m.group():
                    out.append((value[:m.start()] + text + value[m.end():], f"number {m.group()} -> {text}"))
        for ch in hints.chars:
            i = rng.randrange(len(value) + 1)
            out.append((value[:i] + ch + value[i:], f"insert {ch!r} at {i}"))
        return out
    if kind is list and value and all(type(v) is int for v in value):
        out = []
        for c in hints.ints:
            i = rng.randrange(len(value))
            out.append((value[:i] + [c] + value[i + 1:], f"element {i} -> {c}"))
        return out
    return []


def constant_substitutions(seeds: list, hints: Hints | None, rng: random.Random) -> list[tuple[tuple, int | None, str]]:
    """Every single substitution of a hint into a seed input, shuffled: an int argument (or an
    element of a list of ints) replaced by each of ``hints.ints``, each number inside a string
    argument replaced by each of them (zero-padded width kept), each of ``hints.chars`` inserted
    into a string argument -- boundary values at the reference's own thresholds (the ``constant``
    kind). ``seeds``: :class:`~adiff_env.code.tasks.augment_inputs.Seed` objects."""
    if hints is None:
        return []
    out = []
    for seed in seeds:
        for pos, value in enumerate(seed.args):
            for new, note in _substitutions(value, hints, rng):
                out.append((seed.args[:pos] + (new,) + seed.args[pos + 1:], seed.test, f"arg {pos}: {note}"))
    rng.shuffle(out)
    return out


def chain_args(args: tuple, rng: random.Random, hints: Hints | None = None) -> tuple[tuple, str]:
    """``args`` after two to four stacked mutations (plain and structured)."""
    notes = []
    for _ in range(rng.randint(2, 4)):
        if not args:
            break
        if rng.random() < 0.5:
            args, note = structured_args(args, rng, hints)
        else:
            pos = rng.randrange(len(args))
            new, note = mutate_value(args[pos], rng)
            args, note = args[:pos] + (new,) + args[pos + 1:], f"arg {pos}: {note}"
        notes.append(note)
    return args, "; ".join(notes)
