"""Alternative reference solutions of the procedural families: same behaviour, other styles.

Training data for code models wants several correct programs per task (loops vs
comprehensions, other variable names, with and without type hints). Each template is
filled with the task's parameters (``str.format`` fields: the family's params plus ``op`` and
``abs_b`` for ``scale_shift``); a test checks that every variant passes the hidden tests
and agrees with the reference on fuzz inputs for many seeds.
"""

from __future__ import annotations

from adiff_env.code.tasks.base import Task

VARIANTS: dict[str, list[str]] = {
    "take_smallest": [
        "def take_smallest(values):\n    ordered = sorted(values)\n    return ordered[:{k}]\n",
        "def take_smallest(xs):\n    result = []\n    for x in sorted(xs):\n        if len(result) == {k}:\n"
        "            break\n        result.append(x)\n    return result\n",
    ],
    "count_greater": [
        "def count_greater(xs):\n    count = 0\n    for x in xs:\n        if x > {t}:\n            count += 1\n"
        "    return count\n",
        "def count_greater(numbers: list[int]) -> int:\n    return len([n for n in numbers if n > {t}])\n",
    ],
    "clip_values": [
        "def clip_values(xs):\n    out = []\n    for x in xs:\n        if x < {lo}:\n            x = {lo}\n"
        "        elif x > {hi}:\n            x = {hi}\n        out.append(x)\n    return out\n",
        "def clip_values(values: list[int]) -> list[int]:\n    return [max({lo}, min({hi}, v)) for v in values]\n",
    ],
    "scale_shift": [
        "def scale_shift(xs):\n    result = []\n    for x in xs:\n        result.append({a} * x {op} {abs_b})\n"
        "    return result\n",
        "def scale_shift(values: list[int]) -> list[int]:\n    return [v * {a} {op} {abs_b} for v in values]\n",
    ],
    "keep_multiples": [
        "def keep_multiples(xs):\n    kept = []\n    for x in xs:\n        if x % {d} == 0:\n            kept.append(x)\n"
        "    return kept\n",
        "def keep_multiples(numbers: list[int]) -> list[int]:\n    return list(filter(lambda n: n % {d} == 0, numbers))\n",
    ],
    "sum_in_range": [
        "def sum_in_range(xs):\n    total = 0\n    for x in xs:\n        if x >= {lo} and x < {hi}:\n"
        "            total += x\n    return total\n",
        "def sum_in_range(values: list[int]) -> int:\n    return sum([v for v in values if {lo} <= v < {hi}])\n",
    ],
    "repeat_chars": [
        "def repeat_chars(s):\n    out = ''\n    for ch in s:\n        out += ch * {k}\n    return out\n",
        "def repeat_chars(text: str) -> str:\n    return ''.join([c for c in text for _ in range({k})])\n",
    ],
    "first_words": [
        "def first_words(s):\n    words = s.split()\n    return ' '.join(words[:{k}])\n",
        "def first_words(text: str) -> str:\n    kept = []\n    for word in text.split():\n"
        "        if len(kept) < {k}:\n            kept.append(word)\n    return ' '.join(kept)\n",
    ],
    "long_words": [
        "def long_words(s):\n    result = []\n    for word in s.split():\n        if len(word) > {k}:\n"
        "            result.append(word)\n    return result\n",
        "def long_words(text: str) -> list[str]:\n    return [w for w in text.split() if len(w) >= {k} + 1]\n",
    ],
    "multiples_up_to": [
        "def multiples_up_to(n):\n    return [x for x in range(1, n + 1) if x % {m} == 0]\n",
        "def multiples_up_to(limit: int) -> list[int]:\n    out = []\n    value = {m}\n    while value <= limit:\n"
        "        out.append(value)\n        value += {m}\n    return out\n",
    ],
    "pair_sums": [
        "def pair_sums(xs):\n    count = 0\n    for i in range(len(xs)):\n        for j in range(i + 1, len(xs)):\n"
        "            if xs[i] + xs[j] == {k}:\n                count += 1\n    return count\n",
        "def pair_sums(values: list[int]) -> int:\n    n = len(values)\n"
        "    return sum(values[a] + values[b] == {k} for a in range(n) for b in range(a + 1, n))\n",
    ],
    "upper_every_kth": [
        "def upper_every_kth(s):\n    out = []\n    for i, ch in enumerate(s, start=1):\n        if i % {k} == 0:\n"
        "            out.append(ch.upper())\n        else:\n            out.append(ch)\n    return ''.join(out)\n",
        "def upper_every_kth(text: str) -> str:\n    chars = list(text)\n    for i in range({k} - 1, len(chars), {k}):\n"
        "        chars[i] = chars[i].upper()\n    return ''.join(chars)\n",
    ],
    "rotate_left": [
        "def rotate_left(xs):\n    if not xs:\n        return []\n    shift = {k} % len(xs)\n    return xs[shift:] + xs[:shift]\n",
        "def rotate_left(values: list[int]) -> list[int]:\n    out = list(values)\n    for _ in range({k}):\n"
        "        if out:\n            out.append(out.pop(0))\n    return out\n",
    ],
    "first_index_above": [
        "def first_index_above(xs):\n    for i, x in enumerate(xs):\n        if x > {t}:\n            return i\n    return -1\n",
        "def first_index_above(values: list[int]) -> int:\n    i = 0\n    while i < len(values):\n"
        "        if values[i] > {t}:\n            return i\n        i += 1\n    return -1\n",
    ],
    "count_short_words": [
        "def count_short_words(s):\n    count = 0\n    for word in s.split():\n        if len(word) <= {k}:\n"
        "            count += 1\n    return count\n",
        "def count_short_words(text: str) -> int:\n    return len([w for w in text.split() if len(w) < {k} + 1])\n",
    ],
    "digit_sum_mod": [
        "def digit_sum_mod(n):\n    n = abs(n)\n    total = 0\n    while n > 0:\n        total += n % 10\n"
        "        n //= 10\n    return total % {m}\n",
        "def digit_sum_mod(number: int) -> int:\n    return sum(map(int, str(abs(number)))) % {m}\n",
    ],
}


def reference_solutions(task: Task) -> list[str]:
    """The reference solution of a procedural task followed by its style variants."""
    family = task.meta.get("family")
    if task.meta.get("source") == "procedural" and str(task.meta.get("kind", "")).startswith("compose-"):
        from adiff_env.code.tasks.compose import variant_programs

        return [task.solution or ""] + variant_programs(family, dict(task.meta["params"]))
    if task.meta.get("source") != "procedural" or family not in VARIANTS:
        raise ValueError(f"Task {task.task_id!r} is not a procedural task; only those have variants.")
    fields = dict(task.meta["params"])
    if "b" in fields:
        fields.update(op="+" if fields["b"] > 0 else "-", abs_b=abs(fields["b"]))
    return [task.solution or ""] + [template.format(**fields) for template in VARIANTS[family]]
