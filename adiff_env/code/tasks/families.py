"""Task families of the procedural generator: one function per family, ``rng -> Spec``.

Each family draws its parameters (K, thresholds, divisors) from a seeded ``random.Random``,
states them as digits in the description (so a model can copy them), and lists hidden test
inputs chosen to kill near-miss programs: empty inputs, inputs shorter than, equal to and
longer than K, values on both sides of every threshold (T-1, T, T+1), negatives. ``fuzz``
draws random inputs from a wider distribution; the mutation check uses it to tell mutants
that really differ from the reference from equivalent ones.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

Args = tuple


@dataclass(frozen=True)
class Spec:
    """One drawn instance of a family, before its tests are evaluated."""

    entry_point: str
    signature: str  # "def f(xs: list[int]) -> list[int]:"
    description: str  # natural language, parameters written as digits
    solution: str  # reference program (a full module)
    cases: list[Args]  # hidden test inputs, each a tuple of arguments
    fuzz: Callable[[random.Random], Args]  # random input for equivalence checks
    params: dict = field(default_factory=dict)


WORDS = ("apple", "sky", "river", "to", "a", "stone", "blue", "mountain", "cat", "light", "of", "garden", "x", "echo")


def _ints(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _near(rng: random.Random, n: int, centers: list[int], wide: int = 30) -> list[int]:
    """Values mostly within 2 of a threshold, some far away: the fuzz inputs for thresholds."""
    return [rng.choice(centers) + rng.randint(-2, 2) if rng.random() < 0.7 else rng.randint(-wide, wide) for _ in range(n)]


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


def _sentence(rng: random.Random, lengths: list[int]) -> str:
    return " ".join(_word(rng, n) for n in lengths)


def _module(signature: str, body: str) -> str:
    return f"{signature}\n    {body}\n"


def take_smallest(rng: random.Random) -> Spec:
    k = rng.randint(3, 9)
    sig = "def take_smallest(xs: list[int]) -> list[int]:"
    cases = [([],), ([5],), (_ints(rng, k - 1, -20, 20),), (_ints(rng, k, -20, 20),), (_ints(rng, k + 1, -20, 20),),
             (rng.sample(range(-30, 30), k + 2),), (list(range(2 * k + 3, 0, -1)),), (_ints(rng, 3 * k, -9, 9),),
             (rng.sample(range(-50, 50), 2 * k),), ([3] * k + [1, 1, -2],)]
    return Spec("take_smallest", sig,
                f"Return the {k} smallest values of the list xs in ascending order (keep duplicates). "
                f"If xs has fewer than {k} values, return all of them in ascending order.",
                _module(sig, f"return sorted(xs)[:{k}]"), cases,
                lambda r: (_ints(r, r.randint(0, 3 * k), -20, 20),), {"k": k})


def count_greater(rng: random.Random) -> Spec:
    t = rng.randint(-5, 30)
    sig = "def count_greater(xs: list[int]) -> int:"
    cases = [([],), ([t],), ([t + 1],), ([t - 1],), ([t - 1, t, t + 1],), ([t + 1] * 3 + [t] * 2,),
             (_near(rng, 12, [t]),), ([-40, 40, t + 10, t - 10],), (_ints(rng, 10, t - 3, t + 3),)]
    return Spec("count_greater", sig, f"Return how many values in the list xs are strictly greater than {t}.",
                _module(sig, f"return sum(1 for x in xs if x > {t})"), cases,
                lambda r: (_near(r, r.randint(0, 12), [t]),), {"t": t})


def clip_values(rng: random.Random) -> Spec:
    lo = rng.randint(-10, 5)
    hi = lo + rng.randint(3, 15)
    sig = "def clip_values(xs: list[int]) -> list[int]:"
    cases = [([],), ([lo - 1, lo, lo + 1],), ([hi - 1, hi, hi + 1],), ([lo - 20, hi + 20],),
             (_near(rng, 10, [lo, hi]),), (_ints(rng, 8, lo, hi),)]
    return Spec("clip_values", sig,
                f"Return a new list where every value of xs below {lo} is replaced by {lo} and every value "
                f"above {hi} is replaced by {hi}; other values stay unchanged.",
                _module(sig, f"return [min(max(x, {lo}), {hi}) for x in xs]"), cases,
                lambda r: (_near(r, r.randint(0, 10), [lo, hi]),), {"lo": lo, "hi": hi})


def scale_shift(rng: random.Random) -> Spec:
    a = rng.randint(2, 9)
    b = rng.choice([-1, 1]) * rng.randint(1, 20)
    sig = "def scale_shift(xs: list[int]) -> list[int]:"
    op, word = ("+", "increased") if b > 0 else ("-", "decreased")
    cases = [([],), ([0],), ([1],), ([-1],), ([2, -3, 10],), (_ints(rng, 6, -50, 50),)]
    return Spec("scale_shift", sig,
                f"Return a new list where every value x of xs is multiplied by {a} and then {word} by {abs(b)}.",
                _module(sig, f"return [x * {a} {op} {abs(b)} for x in xs]"), cases,
                lambda r: (_ints(r, r.randint(0, 8), -50, 50),), {"a": a, "b": b})


def keep_multiples(rng: random.Random) -> Spec:
    d = rng.randint(2, 9)
    sig = "def keep_multiples(xs: list[int]) -> list[int]:"
    cases = [([],), ([0],), ([d, d + 1, d - 1, 1],), ([2 * d, -d, d * (d + 1), d * (d - 1) + 1],),
             (list(range(-2 * d, 2 * d + 2)),), (_ints(rng, 10, -100, 100),)]
    return Spec("keep_multiples", sig,
                f"Return the values of the list xs that are divisible by {d}, in their original order.",
                _module(sig, f"return [x for x in xs if x % {d} == 0]"), cases,
                lambda r: (_ints(r, r.randint(0, 10), -4 * d, 4 * d),), {"d": d})


def sum_in_range(rng: random.Random) -> Spec:
    lo = rng.randint(2, 12)
    hi = lo + rng.randint(3, 12)
    sig = "def sum_in_range(xs: list[int]) -> int:"
    cases = [([],), ([lo - 1],), ([lo],), ([lo + 1],), ([hi - 1],), ([hi],), ([hi + 1],),
             ([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1],), (_near(rng, 10, [lo, hi]),), ([-lo, -hi, 100],)]
    return Spec("sum_in_range", sig,
                f"Return the sum of the values x in the list xs with {lo} <= x < {hi} "
                f"(at least {lo} and below {hi}); return 0 if there are none.",
                _module(sig, f"return sum(x for x in xs if {lo} <= x < {hi})"), cases,
                lambda r: (_near(r, r.randint(0, 10), [lo, hi]),), {"lo": lo, "hi": hi})


def repeat_chars(rng: random.Random) -> Spec:
    k = rng.randint(2, 5)
    sig = "def repeat_chars(s: str) -> str:"
    cases = [("",), ("a",), ("ab",), ("hello",), ("a b!",), (_word(rng, 6),)]
    return Spec("repeat_chars", sig,
                f"Return the string s with every character repeated {k} times in place "
                f"(for example 'ab' becomes '{'a' * k}{'b' * k}').",
                _module(sig, f"return ''.join(c * {k} for c in s)"), cases,
                lambda r: (_word(r, r.randint(0, 8)),), {"k": k})


def first_words(rng: random.Random) -> Spec:
    k = rng.randint(2, 6)
    sig = "def first_words(s: str) -> str:"

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    cases = [("",), ("one",), (words(k - 1),), (words(k),), (words(k + 1),), (words(2 * k + 2),),
             ("  " + "   ".join(WORDS[: k + 2]) + " ",)]
    return Spec("first_words", sig,
                f"Return the first {k} words of s (words are separated by whitespace) joined by single spaces. "
                f"If s has fewer than {k} words, return all of them joined by single spaces.",
                _module(sig, f"return ' '.join(s.split()[:{k}])"), cases,
                lambda r: (" ".join(r.choice(WORDS) for _ in range(r.randint(0, 3 * k))),), {"k": k})


def long_words(rng: random.Random) -> Spec:
    k = rng.randint(3, 7)
    sig = "def long_words(s: str) -> list[str]:"
    cases = [("",), (_word(rng, k),), (_word(rng, k + 1),), (_sentence(rng, [k - 1, k, k + 1, k + 3]),),
             (_sentence(rng, [1, k + 2, k, 2 * k]),), (_sentence(rng, [k, k]),)]
    return Spec("long_words", sig,
                f"Return the words of s (separated by whitespace) that have more than {k} characters, in order.",
                _module(sig, f"return [w for w in s.split() if len(w) > {k}]"), cases,
                lambda r: (_sentence(r, [r.randint(max(1, k - 2), k + 2) for _ in range(r.randint(0, 6))]),), {"k": k})


def multiples_up_to(rng: random.Random) -> Spec:
    m = rng.randint(2, 9)
    sig = "def multiples_up_to(n: int) -> list[int]:"
    cases = [(n,) for n in (-1, 0, 1, m - 1, m, m + 1, 2 * m - 1, 2 * m, 3 * m + 1, 5 * m + 2)]
    return Spec("multiples_up_to", sig,
                f"Return the positive multiples of {m} that are at most n, in ascending order "
                f"(an empty list if there are none).",
                _module(sig, f"return list(range({m}, n + 1, {m}))"), cases,
                lambda r: (r.randint(-5, 10 * m),), {"m": m})


def pair_sums(rng: random.Random) -> Spec:
    k = 2 * rng.randint(2, 10)
    h = k // 2
    sig = "def pair_sums(xs: list[int]) -> int:"
    cases = [([],), ([h],), ([h, h],), ([h, 1, h],), ([1, k - 1],), ([k - 1, 5, 1],), ([k + 1, -1, k, 0],),
             (_ints(rng, 10, -2, k + 2),), ([2, k - 2, h, k - 3],)]
    return Spec("pair_sums", sig,
                f"Return how many pairs of positions i < j in the list xs have xs[i] + xs[j] == {k}.",
                _module(sig, f"return sum(1 for i in range(len(xs)) for j in range(i) if xs[j] + xs[i] == {k})"),
                cases, lambda r: (_ints(r, r.randint(0, 9), -2, k + 2),), {"k": k})


def upper_every_kth(rng: random.Random) -> Spec:
    k = rng.randint(2, 5)
    sig = "def upper_every_kth(s: str) -> str:"
    cases = [("",), (_word(rng, k - 1),), (_word(rng, k),), (_word(rng, k + 1),), (_word(rng, 3 * k + 1),),
             (string.ascii_lowercase,)]
    return Spec("upper_every_kth", sig,
                f"Return s with every {k}th character (positions {k}, {2 * k}, {3 * k}, ... counting from 1) "
                f"in upper case; the other characters stay unchanged.",
                _module(sig, f"return ''.join(c.upper() if (i + 1) % {k} == 0 else c for i, c in enumerate(s))"),
                cases, lambda r: (_word(r, r.randint(0, 4 * k)),), {"k": k})


# ---- held-out families (split "test") ----------------------------------------------------


def rotate_left(rng: random.Random) -> Spec:
    k = rng.randint(2, 7)
    sig = "def rotate_left(xs: list[int]) -> list[int]:"
    cases = [([],), ([7],)] + [(rng.sample(range(-50, 50), n),) for n in (k - 1, k, k + 1, 2 * k + 1, 3 * k - 1)]
    return Spec("rotate_left", sig,
                f"Return the list xs rotated left by {k} positions: the first {k} values move to the end, "
                f"one at a time (for a list shorter than {k}, the rotation wraps around). Empty stays empty.",
                _module(sig, f"return xs[{k} % len(xs):] + xs[:{k} % len(xs)] if xs else []"), cases,
                lambda r: (r.sample(range(-50, 50), r.randint(0, 3 * k)),), {"k": k})


def first_index_above(rng: random.Random) -> Spec:
    t = rng.randint(-5, 30)
    sig = "def first_index_above(xs: list[int]) -> int:"
    cases = [([],), ([t],), ([t - 1, t, t + 1],), ([t + 1],), ([t, t - 5, t + 2, t + 9],), ([t + 3] * 3,),
             (_ints(rng, 6, t - 20, t),), (_near(rng, 8, [t]),)]
    return Spec("first_index_above", sig,
                f"Return the index of the first value in the list xs that is greater than {t}, or -1 if there is none.",
                _module(sig, f"return next((i for i, x in enumerate(xs) if x > {t}), -1)"), cases,
                lambda r: (_near(r, r.randint(0, 8), [t]),), {"t": t})


def count_short_words(rng: random.Random) -> Spec:
    k = rng.randint(2, 6)
    sig = "def count_short_words(s: str) -> int:"
    cases = [("",), (_word(rng, k),), (_word(rng, k + 1),), (_sentence(rng, [k - 1, k, k + 1, k + 4]),),
             (_sentence(rng, [k] * 3 + [k + 1] * 2),), (_sentence(rng, [1, 2 * k, k - 1]),)]
    return Spec("count_short_words", sig,
                f"Return how many words of s (separated by whitespace) have at most {k} characters.",
                _module(sig, f"return sum(1 for w in s.split() if len(w) <= {k})"), cases,
                lambda r: (_sentence(r, [r.randint(1, k + 3) for _ in range(r.randint(0, 6))]),), {"k": k})


def _digits_summing_to(total: int) -> int:
    return int("9" * (total // 9) + str(total % 9)) if total else 0


def digit_sum_mod(rng: random.Random) -> Spec:
    m = rng.randint(3, 9)
    sig = "def digit_sum_mod(n: int) -> int:"
    cases = [(0,), (5,), (-5,)] + [(_digits_summing_to(s),) for s in (m - 1, m, m + 1, 2 * m, 2 * m + 1, 3 * m - 1)]
    cases += [(-_digits_summing_to(m + 2),), (rng.randint(10**5, 10**7),)]
    return Spec("digit_sum_mod", sig,
                f"Return the sum of the decimal digits of n (ignore the sign of n) modulo {m}.",
                _module(sig, f"return sum(int(d) for d in str(abs(n))) % {m}"), cases,
                lambda r: (r.randint(-10**6, 10**6) if r.random() < 0.5 else r.randint(-60, 60),), {"m": m})


FAMILIES: dict[str, tuple[str, str, Callable[[random.Random], Spec]]] = {
    # name: (split, kind, factory)
    "take_smallest": ("train", "list", take_smallest),
    "count_greater": ("train", "counting", count_greater),
    "clip_values": ("train", "list", clip_values),
    "scale_shift": ("train", "arithmetic", scale_shift),
    "keep_multiples": ("train", "list", keep_multiples),
    "sum_in_range": ("train", "arithmetic", sum_in_range),
    "repeat_chars": ("train", "string", repeat_chars),
    "first_words": ("train", "string", first_words),
    "long_words": ("train", "string", long_words),
    "multiples_up_to": ("train", "arithmetic", multiples_up_to),
    "pair_sums": ("train", "counting", pair_sums),
    "upper_every_kth": ("train", "string", upper_every_kth),
    "rotate_left": ("test", "list", rotate_left),
    "first_index_above": ("test", "counting", first_index_above),
    "count_short_words": ("test", "string", count_short_words),
    "digit_sum_mod": ("test", "arithmetic", digit_sum_mod),
}
