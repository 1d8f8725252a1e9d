"""Read and write task suites as JSONL, one task per line.

Two record formats are recognized, line by line:

- the task format (:class:`~adiff_env.code.tasks.base.Task`)::

    {"task_id": "t1", "prompt": "...", "tests": ["assert f(1) == 2"],
     "entry_point": "f", "setup": "", "solution": "def f(x): ...", "meta": {},
     "public_tests": ["assert f(0) == 1"], "fallback_tests": []}   # the last two optional

- the original MBPP format (``task_id``, ``text``, ``code``, ``test_list``,
  ``test_setup_code``, optionally ``challenge_test_list``); the entry point is taken from the
  first ``def`` in ``code``.

Bad records raise ``ValueError`` naming ``file:line``, the problem and the fix.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adiff_env.code.tasks.base import Task

_TASK_KEYS = {"task_id", "prompt", "tests", "entry_point", "setup", "solution", "meta", "public_tests", "fallback_tests"}
_MBPP_KEYS = {"task_id", "text", "code", "test_list", "test_setup_code", "challenge_test_list"}


def _where(path: Path, line_no: int) -> str:
    return f"{path}:{line_no}"


def _need_str(record: dict, key: str, where: str, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        kind = "missing" if key not in record else f"a {type(value).__name__}"
        raise ValueError(f"{where}: field {key!r} must be a string, got {kind}. Fix that field of the record.")
    return value


def _need_str_list(record: dict, key: str, where: str) -> tuple[str, ...]:
    value = record.get(key)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        got = "missing" if key not in record else repr(value)[:80]
        raise ValueError(f"{where}: field {key!r} must be a list of strings (Python test statements), got {got}.")
    if not value:
        raise ValueError(f"{where}: field {key!r} is empty; a task needs at least one test.")
    return tuple(value)


def _need_index_list(record: dict, key: str, where: str) -> tuple[int, ...]:
    value = record.get(key) or []
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValueError(f"{where}: field {key!r} must be a list of test indices (ints), got {repr(value)[:80]}.")
    return tuple(value)


def _entry_point_of(code: str) -> str | None:
    """Name of the first top-level function defined in ``code`` (None if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name
    return None


def task_from_record(record: Any, where: str = "<record>") -> Task:
    """Build a :class:`Task` from one decoded JSON record in the task or the MBPP format."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object per line, got {type(record).__name__}.")
    if "task_id" not in record:
        raise ValueError(f"{where}: record has no 'task_id'. Every record needs a unique task_id.")
    task_id = str(record["task_id"])
    if "text" in record and "test_list" in record and "prompt" not in record:
        unknown = set(record) - _MBPP_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown MBPP fields {sorted(unknown)}; expected some of {sorted(_MBPP_KEYS)}.")
        code = _need_str(record, "code", where)
        tests = _need_str_list(record, "test_list", where)
        return Task(
            task_id=task_id,
            prompt=_need_str(record, "text", where),
            tests=tests,
            entry_point=_entry_point_of(code),
            setup=_need_str(record, "test_setup_code", where, optional=True) or "",
            solution=code,
            meta={"source": "mbpp", "challenge_tests": record.get("challenge_test_list") or []},
        )
    unknown = set(record) - _TASK_KEYS
    if unknown:
        raise ValueError(
            f"{where}: unknown fields {sorted(unknown)}. The task format has {sorted(_TASK_KEYS)}; "
            f"the MBPP format has {sorted(_MBPP_KEYS)}."
        )
    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: field 'meta' must be an object, got {type(meta).__name__}.")
    return Task(
        task_id=task_id,
        prompt=_need_str(record, "prompt", where),
        tests=_need_str_list(record, "tests", where),
        entry_point=_need_str(record, "entry_point", where, optional=True),
        setup=_need_str(record, "setup", where, optional=True) or "",
        solution=_need_str(record, "solution", where, optional=True),
        meta=dict(meta),
        public_tests=_need_str_list(record, "public_tests", where) if record.get("public_tests") else (),
        fallback_tests=_need_index_list(record, "fallback_tests", where),
    )


def load_jsonl(path: str | os.PathLike) -> list[Task]:
    """Load tasks from a JSONL file (task or MBPP format; blank lines are skipped).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` with ``file:line`` for
    a line that is not JSON, a record that is not a valid task, or a duplicate ``task_id``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Task file {str(path)!r} does not exist (expected a .jsonl file, one task per line).")
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    with path.open("r", encoding="utf-8", errors="strict") as fh:
        try:
            lines = list(fh)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not valid UTF-8 ({exc}). Save the file as UTF-8.") from exc
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = _where(path, line_no)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from exc
        try:
            task = task_from_record(record, where)
        except ValueError as exc:
            if str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: {exc}") from exc
        if task.task_id in seen:
            raise ValueError(f"{where}: duplicate task_id {task.task_id!r} (first seen on line {seen[task.task_id]}).")
        seen[task.task_id] = line_no
        tasks.append(task)
    if not tasks:
        raise ValueError(f"{path}: the file holds no tasks.")
    return tasks


def task_to_record(task: Task) -> dict:
    """The JSON record of ``task`` in the task format (inverse of :func:`task_from_record`)."""
    return {
        "task_id": task.task_id,
        "prompt": task.prompt,
        "tests": list(task.tests),
        "entry_point": task.entry_point,
        "setup": task.setup,
        "solution": task.solution,
        "meta": task.meta,
        **({"public_tests": list(task.public_tests)} if task.public_tests else {}),
        **({"fallback_tests": list(task.fallback_tests)} if task.fallback_tests else {}),
    }


def save_jsonl(tasks: Iterable[Task], path: str | os.PathLike) -> Path:
    """Write tasks as JSONL atomically (temp file, then ``os.replace``). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for task in tasks:
                fh.write(json.dumps(task_to_record(task), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
