"""Training corpus for the code planner: several verified programs per procedural task.

Per task (a TRAIN-family instance for each seed): the reference solution, every style
variant (:mod:`adiff_env.code.tasks.variants`) and renamed copies of each (argument and loop
variable names drawn from fixed pools, renamed through the AST so the entry point, builtins
and attributes stay), deduplicated by AST, and EACH run against all of the task's tests in a
sandbox; failures are dropped and counted. Seeds 0..999 are reserved for evaluation.
"""

from __future__ import annotations

import ast
import builtins
import json
import logging
import os
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from adiff_env.code.tasks.procedural import SPLITS, families, generate
from adiff_env.code.tasks.variants import reference_solutions
from adiff_env.code.tokenizer import _atomic_write_text
from adiff_env.sandbox import Sandbox, make_sandbox

log = logging.getLogger(__name__)

EVAL_SEEDS_END = 1000  # seeds below this are evaluation seeds
ARG_POOLS: dict[str, tuple[str, ...]] = {
    "list": ("values", "nums", "items", "data", "arr", "seq", "numbers", "xs"),
    "str": ("text", "string", "line", "word", "sentence", "s"),
    "int": ("n", "limit", "number", "value", "bound"),
}
LOOP_POOL = ("v", "n", "item", "value", "num", "x", "elem", "e")
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class CodeExample:
    """One verified (prompt, program) pair. ``style``: "reference", "variant1", ...,
    with "+renamedN" for renamed copies."""

    task_id: str
    family: str
    prompt: str
    program: str
    style: str


def _arg_kind(reference: str, entry_point: str) -> str:
    """"list", "str" or "int" from the reference's first-parameter annotation."""
    for node in ast.walk(ast.parse(reference)):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point and node.args.args:
            ann = node.args.args[0].annotation
            text = ast.unparse(ann) if ann is not None else ""
            return "str" if text == "str" else "int" if text == "int" else "list"
    return "list"


class _Collect(ast.NodeVisitor):
    """Entry-point parameters and loop / comprehension / lambda variables."""

    def __init__(self, entry_point: str) -> None:
        self.entry_point = entry_point
        self.params: list[str] = []
        self.loops: list[str] = []
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.names.add(node.name)
        if node.name == self.entry_point:
            self.params += [a.arg for a in node.args.args]
        self.generic_visit(node)

    def _targets(self, target: ast.AST) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name) and n.id not in self.loops:
                self.loops.append(n.id)

    def visit_For(self, node: ast.For) -> None:
        self._targets(node.target)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._targets(node.target)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.loops += [a.arg for a in node.args.args if a.arg not in self.loops]
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.names.add(node.arg)
        self.generic_visit(node)


class _Rename(ast.NodeTransformer):
    """Rename Name / arg nodes by ``mapping``; records (line, col, old, new) of each edit."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self.edits: list[tuple[int, int, str, str]] = []

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.mapping:
            self.edits.append((node.lineno, node.col_offset, node.id, self.mapping[node.id]))
            node.id = self.mapping[node.id]
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        if node.arg in self.mapping:
            self.edits.append((node.lineno, node.col_offset, node.arg, self.mapping[node.arg]))
            node.arg = self.mapping[node.arg]
        self.generic_visit(node)
        return node


def rename_program(program: str, entry_point: str, arg_kind: str, rng: random.Random) -> str | None:
    """A copy of ``program`` with its parameters and loop variables renamed from the pools.

    The AST decides what is renamed (Name and arg nodes only: the entry point, builtins,
    attributes and keyword-argument names stay); the edits are applied at the nodes' source
    positions so the layout is kept, and the result is checked to equal the transformed AST.
    Returns None if nothing could be renamed.
    """
    tree = ast.parse(program)
    found = _Collect(entry_point)
    found.visit(tree)
    taken = set(found.names) | _BUILTINS | {entry_point}
    mapping: dict[str, str] = {}
    for names, pool in ((found.params, ARG_POOLS.get(arg_kind, ARG_POOLS["list"])), (found.loops, LOOP_POOL)):
        for name in names:
            if name in mapping or name == "_" or name == entry_point:
                continue
            free = [p for p in pool if p not in taken and p != name]
            if free:
                mapping[name] = rng.choice(free)
                taken.add(mapping[name])
    if not mapping:
        return None
    renamer = _Rename(mapping)
    expected = ast.dump(renamer.visit(tree))
    lines = program.splitlines(keepends=True)
    for line, col, old, new in sorted(renamer.edits, reverse=True):
        text = lines[line - 1].encode("utf-8")
        if text[col:col + len(old.encode())] != old.encode():
            raise RuntimeError(f"rename_program: {old!r} not at line {line} col {col} of:\n{program}")
        lines[line - 1] = (text[:col] + new.encode() + text[col + len(old.encode()):]).decode("utf-8")
    renamed = "".join(lines)
    if ast.dump(ast.parse(renamed)) != expected:
        raise RuntimeError(f"rename_program: text edit disagrees with the AST for:\n{program}")
    return renamed


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = list(seeds)
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or s < EVAL_SEEDS_END]
    if bad:
        raise ValueError(f"build_corpus seeds must be ints >= {EVAL_SEEDS_END}: seeds 0..{EVAL_SEEDS_END - 1} are "
                         f"reserved for evaluation; got {bad[:5]}{'...' if len(bad) > 5 else ''}. "
                         f"Use e.g. range(1000, 1300).")
    if not seeds:
        raise ValueError("build_corpus needs at least one seed, got none.")
    return seeds


def task_programs(task, rename: bool = True, renames: int = 1) -> list[tuple[str, str]]:
    """(style, program) candidates of one procedural task, deduplicated by AST (unverified)."""
    rng = random.Random(f"rename:{task.task_id}")
    kind = _arg_kind(task.solution or "", task.entry_point)
    bases = [("reference" if i == 0 else f"variant{i}", p) for i, p in enumerate(reference_solutions(task))]
    out = list(bases)
    if rename:
        for style, program in bases:
            for r in range(renames):
                copy = rename_program(program, task.entry_point, kind, rng)
                if copy is not None:
                    out.append((f"{style}+renamed{r + 1}", copy))
    seen: set[str] = set()
    unique = []
    for style, program in out:
        key = ast.dump(ast.parse(program))
        if key not in seen:
            seen.add(key)
            unique.append((style, program))
    return unique


def build_corpus(split: str = "train", seeds: Iterable[int] = range(1000, 1300), sandbox: Sandbox | str = "process",
                 rename: bool = True, progress: bool = True, *, renames: int = 1,
                 family_names: Iterable[str] | None = None, workers: int = 1) -> list[CodeExample]:
    """Verified examples for every family of ``split`` (or ``family_names``) and every seed.

    Each candidate runs ``sandbox.run(program, list(task.tests))`` (the sandbox has no batch
    API); programs that fail any test are dropped and counted in the log. A sandbox passed
    by name is created and closed here; one passed as an object is left open. ``workers``
    tasks are checked at once (threads waiting on sandbox processes / containers).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    seeds = _check_seeds(seeds)
    names = [f.name for f in families(split)] if family_names is None else list(family_names)
    unknown = [n for n in names if n not in {f.name for f in families(split)}]
    if unknown:
        raise ValueError(f"Families {unknown} are not in split {split!r}; choose from {[f.name for f in families(split)]}.")
    own = isinstance(sandbox, str)
    box = make_sandbox(sandbox) if own else sandbox
    examples: list[CodeExample] = []
    failed = 0
    try:
        pairs = [(n, s) for n in names for s in seeds]

        def check(pair: tuple[str, int]) -> tuple[list[CodeExample], int]:
            task = generate(*pair)
            kept, bad = [], 0
            for style, program in task_programs(task, rename=rename, renames=renames):
                if box.run(program, list(task.tests)).all_passed:
                    kept.append(CodeExample(task.task_id, pair[0], task.prompt, program, style))
                else:
                    bad += 1
                    log.warning("corpus: %s (%s) failed its tests; dropped", task.task_id, style)
            return kept, bad

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(check, pairs)
            for kept, bad in tqdm(results, total=len(pairs), desc=f"corpus {split}", disable=not progress, unit="task"):
                examples += kept
                failed += bad
    finally:
        if own:
            box.close()
    log.info("corpus: %d examples kept, %d dropped", len(examples), failed)
    return examples


def save_corpus(examples: Iterable[CodeExample], path: str | os.PathLike) -> Path:
    """Write examples as JSONL (one object per line), atomically."""
    lines = []
    for ex in examples:
        if not isinstance(ex, CodeExample):
            raise TypeError(f"save_corpus expects CodeExample items, got {type(ex).__name__}.")
        lines.append(json.dumps(asdict(ex)))
    return _atomic_write_text(Path(path), "".join(line + "\n" for line in lines))


def load_corpus(path: str | os.PathLike) -> list[CodeExample]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No corpus file at {path}.")
    from adiff_env import config

    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n} is not valid JSON: {exc}.") from None
        out.append(config.from_dict(CodeExample, data, f"{path}:{n}"))  # every field, each a string
    return out
