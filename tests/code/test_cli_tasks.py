"""`adiff code tasks ...` through the real parser (cli/tasks.py is mounted under `adiff code`)."""

import json

import pytest

from adiff_env.cli.main import build_parser, main
from adiff_env.code.tasks import load_jsonl
from adiff_env.errors import UnknownNameError


def _run(argv):
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_list_and_show(capsys):
    assert _run(["code", "tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "rotate_left" in out and "humaneval" in out
    assert _run(["code", "tasks", "show", "procedural:test:2", "--id", "procedural/rotate_left/1"]) == 0
    out = capsys.readouterr().out
    assert "# procedural/rotate_left/1" in out and "[0] assert rotate_left([]) == []" in out and "def rotate_left" in out
    with pytest.raises(UnknownNameError, match="task id"):
        _run(["code", "tasks", "show", "procedural:test:2", "--id", "nope"])


def test_export_and_check(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert _run(["code", "tasks", "export", "procedural:train:1", str(out)]) == 0
    assert len(load_jsonl(out)) == 12
    capsys.readouterr()
    assert _run(["code", "tasks", "check", str(out), "--sandbox", "process", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks_passed"] == summary["tasks"] == 12 and summary["failed"] == []
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"task_id": "b", "prompt": "p", "tests": ["assert f() == 1"],
                                  "solution": "def f():\n    return 2\n"}) + "\n")
    assert _run(["code", "tasks", "check", str(broken), "--sandbox", "process"]) == 1
    assert "FAILED b" in capsys.readouterr().out


def test_tasks_moved_under_code(capsys):
    assert main(["tasks", "list"]) == 2
    assert "'tasks' is now 'adiff code tasks'" in capsys.readouterr().err
    assert main(["code", "tasks", "show", "procedural:test:2", "--id", "nope"]) == 2  # a UserError: one line
    assert "Unknown task id 'nope'" in capsys.readouterr().err
