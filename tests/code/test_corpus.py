"""Code corpus: seeds policy, verification in the real process sandbox, renaming, dedup, JSONL."""

from __future__ import annotations

import ast
import dataclasses
import logging
import random
import warnings

import pytest

from adiff_env.code.corpus import (
    CodeExample,
    build_corpus,
    load_corpus,
    rename_program,
    save_corpus,
    task_programs,
)
from adiff_env.code.tasks import generate
from adiff_env.code.tasks.procedural import draw_spec, load_function
from adiff_env.sandbox import Limits, make_sandbox

FAMILIES = ["take_smallest", "upper_every_kth"]


@pytest.fixture(autouse=True)
def _quiet_process_sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def corpus():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_corpus(seeds=range(1000, 1002), family_names=FAMILIES, progress=False, workers=2)


def _dump(program: str) -> str:
    return ast.dump(ast.parse(program))


@pytest.mark.parametrize("seeds", [range(0, 3), [1000, 999], [5]])
def test_evaluation_seeds_are_rejected(seeds):
    with pytest.raises(ValueError, match="reserved for evaluation"):
        build_corpus(seeds=seeds, progress=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        build_corpus(split="valid", seeds=[1000])
    with pytest.raises(ValueError, match="at least one seed"):
        build_corpus(seeds=[])
    with pytest.raises(ValueError, match="not in split"):
        build_corpus(seeds=[1000], family_names=["rotate_left"])
    with pytest.raises(ValueError, match="workers"):
        build_corpus(seeds=[1000], workers=0)


def test_corpus_contents(corpus):
    tasks = {e.task_id for e in corpus}
    assert tasks == {f"procedural/{f}/{s}" for f in FAMILIES for s in (1000, 1001)}
    for task_id in tasks:
        styles = {e.style for e in corpus if e.task_id == task_id}
        assert {"reference", "variant1", "variant2"} <= styles
        assert any("+renamed" in s for s in styles)
        dumps = [_dump(e.program) for e in corpus if e.task_id == task_id]
        assert len(dumps) == len(set(dumps))  # deduplicated
    assert all(e.prompt == generate(e.family, int(e.task_id.rsplit("/", 1)[1])).prompt for e in corpus)


def test_every_example_passes_its_tests_rechecked(corpus):
    rng = random.Random(0)
    with make_sandbox("process") as box:
        for ex in rng.sample(corpus, 6):
            task = generate(ex.family, int(ex.task_id.rsplit("/", 1)[1]))
            assert box.run(ex.program, list(task.tests)).all_passed, ex


def test_renamed_copies_differ_but_behave_the_same(corpus):
    by_task: dict[str, dict[str, str]] = {}
    for e in corpus:
        by_task.setdefault(e.task_id, {})[e.style] = e.program
    checked = 0
    for task_id, styles in by_task.items():
        _, family, seed = task_id.split("/")
        spec = draw_spec(family, int(seed))
        rng = random.Random(1)
        for style, program in styles.items():
            if "+renamed" not in style:
                continue
            base = styles[style.split("+")[0]]
            assert _dump(program) != _dump(base)
            assert f"def {spec.entry_point}(" in program
            a, b = load_function(base, spec.entry_point), load_function(program, spec.entry_point)
            for _ in range(30):
                args = spec.fuzz(rng)
                assert a(*args) == b(*args), (base, program, args)
            checked += 1
    assert checked >= 4


def test_rename_keeps_entry_point_builtins_and_attributes():
    program = ("def upper_every_kth(s):\n    out = []\n    for i, ch in enumerate(s, start=1):\n"
               "        out.append(ch.upper())\n    return ''.join(out)\n")
    renamed = rename_program(program, "upper_every_kth", "str", random.Random(3))
    tree = ast.parse(renamed)
    fn = tree.body[0]
    assert fn.name == "upper_every_kth" and fn.args.args[0].arg != "s"
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert {"enumerate", "out"} <= names and not {"s", "i", "ch"} & names
    assert ".upper()" in renamed and "start=1" in renamed and "''.join(out)" in renamed
    assert rename_program("def f():\n    return 1\n", "f", "int", random.Random(0)) is None


def test_dedup_drops_ast_duplicates():
    task = generate("take_smallest", 1000)
    n = len(task_programs(task))
    variant = task_programs(task)[1][1]
    same = dataclasses.replace(task, solution="# a comment\n" + variant.replace("\n", "  \n"))
    programs = task_programs(same)
    assert len(programs) < n
    assert len({_dump(p) for _, p in programs}) == len(programs)
    assert task_programs(task, rename=False) == task_programs(task)[:3]


def test_failures_are_dropped_and_counted(caplog):
    box = make_sandbox("process", limits=Limits(memory_mb=1))  # nothing can even start
    with caplog.at_level(logging.INFO, logger="adiff_env.code.corpus"):
        kept = build_corpus(seeds=[1000], family_names=["take_smallest"], sandbox=box, progress=False)
    box.close()
    assert kept == []
    assert any("0 examples kept" in r.message and "dropped" in r.message for r in caplog.records)


def test_save_load_round_trip(corpus, tmp_path):
    path = save_corpus(corpus, tmp_path / "c" / "corpus.jsonl")
    assert load_corpus(path) == corpus
    assert not list((tmp_path / "c").glob("*.tmp"))
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_corpus(tmp_path / "bad.jsonl")
    (tmp_path / "worse.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_corpus(tmp_path / "worse.jsonl")
    with pytest.raises(TypeError):
        save_corpus([{"task_id": "x"}], tmp_path / "x.jsonl")
    assert isinstance(corpus[0], CodeExample)
