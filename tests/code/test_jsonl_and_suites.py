import json

import pytest

from adiff_env.code.tasks import Task, load_jsonl, load_tasks, save_jsonl, suite_names
from adiff_env.code.tasks.jsonl import task_from_record
from adiff_env.code.tasks.procedural import families
from adiff_env.errors import UnknownNameError


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"task_id": "t1", "prompt": "add one", "tests": ["assert f(1) == 2", "assert f(-1) == 0"],
        "entry_point": "f", "setup": "import math", "solution": "def f(x):\n    return x + 1\n", "meta": {"k": 1}}
MBPP = {"task_id": 11, "text": "Write a function to add one.", "code": "import os\ndef add_one(x):\n    return x + 1",
        "test_list": ["assert add_one(1) == 2"], "test_setup_code": "", "challenge_test_list": []}


def test_task_format_round_trip(tmp_path):
    path = _write(tmp_path / "s.jsonl", [json.dumps(GOOD), "", json.dumps({**GOOD, "task_id": "t2"})])
    tasks = load_jsonl(path)
    assert [t.task_id for t in tasks] == ["t1", "t2"]
    t = tasks[0]
    assert t.tests == ("assert f(1) == 2", "assert f(-1) == 0")
    assert (t.entry_point, t.setup, t.meta) == ("f", "import math", {"k": 1})
    out = save_jsonl(tasks, tmp_path / "sub" / "copy.jsonl")
    again = load_jsonl(out)
    assert again == tasks and [a.meta for a in again] == [b.meta for b in tasks]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_mbpp_format_recognized(tmp_path):
    tasks = load_jsonl(_write(tmp_path / "mbpp.jsonl", [json.dumps(MBPP)]))
    t = tasks[0]
    assert t.task_id == "11" and t.prompt.startswith("Write a function")
    assert t.entry_point == "add_one" and t.solution == MBPP["code"]
    assert t.tests == ("assert add_one(1) == 2",) and t.meta["source"] == "mbpp"


def test_minimal_task_record_defaults():
    t = task_from_record({"task_id": "x", "prompt": "p", "tests": ["assert True"]})
    assert t.entry_point is None and t.setup == "" and t.solution is None


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", r"bad\.jsonl:2: not valid JSON"),
        ("[1, 2]", r"bad\.jsonl:2: expected a JSON object"),
        (json.dumps({"prompt": "p", "tests": ["assert 1"]}), r"bad\.jsonl:2: record has no 'task_id'"),
        (json.dumps({**GOOD, "tests": []}), r"bad\.jsonl:2: field 'tests' is empty"),
        (json.dumps({**GOOD, "tests": "assert 1"}), r"bad\.jsonl:2: field 'tests' must be a list of strings"),
        (json.dumps({**GOOD, "prompt": 3}), r"bad\.jsonl:2: field 'prompt' must be a string, got a int"),
        (json.dumps({**GOOD, "colour": "red"}), r"bad\.jsonl:2: unknown fields \['colour'\]"),
        (json.dumps({**GOOD, "meta": [1]}), r"bad\.jsonl:2: field 'meta' must be an object"),
        (json.dumps({**GOOD, "task_id": ""}), r"bad\.jsonl:2: .*non-empty"),
        (json.dumps({**MBPP, "extra": 1}), r"bad\.jsonl:2: unknown MBPP fields \['extra'\]"),
        (json.dumps({**MBPP, "code": None}), r"bad\.jsonl:2: field 'code' must be a string"),
        (json.dumps(GOOD), r"bad\.jsonl:2: duplicate task_id 't1' \(first seen on line 1\)"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, line, match):
    path = _write(tmp_path / "bad.jsonl", [json.dumps(GOOD), line])
    with pytest.raises(ValueError, match=match):
        load_jsonl(path)


def test_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_jsonl(tmp_path / "nope.jsonl")
    empty = _write(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ValueError, match="holds no tasks"):
        load_jsonl(empty)
    raw = tmp_path / "latin.jsonl"
    raw.write_bytes(b'{"task_id": "\xff"}\n')
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_jsonl(raw)


def test_load_tasks_specs(tmp_path):
    assert len(load_tasks("humaneval")) == 164
    train = load_tasks("procedural:train:3")
    test = load_tasks("procedural:test:3:500")
    assert len(train) == 3 * len(families("train")) and len(test) == 3 * len(families("test"))
    assert {t.meta["seed"] for t in test} == {500, 501, 502}
    one = load_tasks("procedural:take_smallest:4")
    assert [t.task_id for t in one] == [f"procedural/take_smallest/{s}" for s in range(4)]
    assert len(load_tasks("procedural:train")) == 50 * len(families("train"))
    path = save_jsonl(one, tmp_path / "one.jsonl")
    assert load_tasks(str(path)) == one and load_tasks(path) == one


def test_load_tasks_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'procedural:train'.*humaneval"):
        load_tasks("procedural:trian")
    with pytest.raises(UnknownNameError, match="Known task suites: humaneval"):
        load_tasks("mbpp")
    with pytest.raises(ValueError, match="COUNT must be an integer, got 'x'"):
        load_tasks("procedural:train:x")
    with pytest.raises(ValueError, match="START must be an integer"):
        load_tasks("procedural:train:2:y")
    with pytest.raises(ValueError, match="too many"):
        load_tasks("procedural:train:1:2:3")
    with pytest.raises(ValueError, match="count must be >= 1"):
        load_tasks("procedural:train:0")
    with pytest.raises(TypeError, match="string or a path"):
        load_tasks(3)
    assert "procedural:rotate_left" in suite_names()


def test_task_requires_tests():
    with pytest.raises(ValueError, match="no tests"):
        Task(task_id="a", prompt="p", tests=())
