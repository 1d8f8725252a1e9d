"""`adiff tasks ...` (the module is wired into the CLI by adding it to COMMAND_MODULES)."""

import argparse
import json

import pytest

from adiff_env.cli import tasks as tasks_cli
from adiff_env.errors import UnknownNameError
from adiff_env.code.tasks import load_jsonl


def _run(argv):
    parser = argparse.ArgumentParser(prog="adiff")
    tasks_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_list_and_show(capsys):
    assert _run(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "rotate_left" in out and "humaneval" in out
    assert _run(["tasks", "show", "procedural:test:2", "--id", "procedural/rotate_left/1"]) == 0
    out = capsys.readouterr().out
    assert "# procedural/rotate_left/1" in out and "[0] assert rotate_left([]) == []" in out and "def rotate_left" in out
    with pytest.raises(UnknownNameError, match="task id"):
        _run(["tasks", "show", "procedural:test:2", "--id", "nope"])


def test_export_and_check(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert _run(["tasks", "export", "procedural:train:1", str(out)]) == 0
    assert len(load_jsonl(out)) == 12
    capsys.readouterr()
    assert _run(["tasks", "check", str(out), "--sandbox", "process", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks_passed"] == summary["tasks"] == 12 and summary["failed"] == []
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"task_id": "b", "prompt": "p", "tests": ["assert f() == 1"],
                                  "solution": "def f():\n    return 2\n"}) + "\n")
    assert _run(["tasks", "check", str(broken), "--sandbox", "process"]) == 1
    assert "FAILED b" in capsys.readouterr().out
