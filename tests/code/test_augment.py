"""Generated hidden tests (adiff_env.code.tasks.augment, `adiff code tasks augment`)."""

import json
import re
import warnings

import pytest

from adiff_env.cli.main import build_parser, main
from adiff_env.code.tasks import Task, load_jsonl, load_tasks
from adiff_env.code.tasks.augment import AugmentConfig, augment_task, original_tests
from adiff_env.code.tasks.augment_candidates import KINDS
from adiff_env.code.tasks.augment_inputs import seed_inputs
from adiff_env.errors import UnknownNameError
from adiff_env.sandbox import make_sandbox

# the given tests miss negative numbers: sum(xs) passes them and is wrong
ABS_SUM = Task(
    task_id="planted/abs_sum", prompt="def abs_sum(xs):\n    \"\"\"Sum of the absolute values of xs.\"\"\"\n",
    tests=("assert abs_sum([1, 2, 3]) == 6", "assert abs_sum([4, 5]) == 9"), entry_point="abs_sum",
    solution="def abs_sum(xs):\n    return sum(abs(x) for x in xs)\n",
)
WRONG_ABS_SUM = "def abs_sum(xs):\n    return sum(xs)\n"


@pytest.fixture(scope="module")
def sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb = make_sandbox("process")
    yield sb
    sb.close()


def _judge(sandbox, task, program, tests=None):
    return sandbox.run(program, list(tests if tests is not None else task.tests), setup=task.setup,
                       entry_point=task.entry_point, fallback=task.fallback_tests)


def test_seed_inputs_read_literal_calls_of_entry_point_and_aliases():
    seeds = seed_inputs(["assert candidate([1, 2], 'a') == 3", "assert f(x) == 1", "assert g(1) == 2"],
                        ["f", "candidate"])
    assert [s.args for s in seeds] == [([1, 2], "a")] and seeds[0].test == 0


def test_reference_passes_every_augmented_test(sandbox):
    tasks = [t for t in load_tasks("humaneval") if t.task_id in ("HumanEval/0", "HumanEval/6", "HumanEval/12")]
    for task in tasks:
        aug = augment_task(task, sandbox, AugmentConfig(per_task=8))
        added = aug.tests[len(task.tests):]
        assert original_tests(aug) == task.tests and 0 < len(added) <= 8
        result = _judge(sandbox, aug, aug.solution)
        assert result.all_passed, (task.task_id, [t for t in result.tests if not t.passed])
        assert result.untrusted_tests == 0  # every added test is judged trusted, no fallback
        provenance = aug.meta["augment"]["added"]
        assert [p["test"] for p in provenance] == list(range(len(task.tests), len(aug.tests)))
        assert {p["kind"] for p in provenance} <= {"boundary", *KINDS}
        assert all(p["seed"] == 0 for p in provenance)
        assert all(t.startswith(f"assert {task.entry_point}(") or t.startswith(f"assert abs({task.entry_point}(")
                   for t in added)


def test_planted_wrong_program_is_rejected(sandbox):
    assert _judge(sandbox, ABS_SUM, WRONG_ABS_SUM).all_passed  # the given tests let it through
    aug = augment_task(ABS_SUM, sandbox, AugmentConfig(per_task=10))
    assert _judge(sandbox, aug, aug.solution).all_passed
    wrong = _judge(sandbox, aug, WRONG_ABS_SUM)
    assert not wrong.all_passed
    failed = [t.index for t in wrong.tests if not t.passed]
    assert all(i >= len(ABS_SUM.tests) for i in failed)  # only added tests catch it


def test_deterministic_by_seed(sandbox):
    one = augment_task(ABS_SUM, sandbox, AugmentConfig(per_task=10, seed=3))
    two = augment_task(ABS_SUM, sandbox, AugmentConfig(per_task=10, seed=3))
    other = augment_task(ABS_SUM, sandbox, AugmentConfig(per_task=10, seed=4))
    assert one.tests == two.tests and one.meta == two.meta
    assert other.tests != one.tests


def test_unusable_tasks_are_kept_unchanged(sandbox):
    no_literals = Task(task_id="x", prompt="p", tests=("xs = [1]\nassert f(xs) == 1",), entry_point="f",
                       solution="def f(xs):\n    return xs[0]\n")
    assert augment_task(no_literals, sandbox, AugmentConfig(per_task=3)) is no_literals


def test_reference_that_raises_or_is_random_drops_inputs(sandbox):
    task = Task(task_id="r", prompt="p", tests=("assert 0 <= noisy(5) <= 10",), entry_point="noisy",
                solution="import random\ndef noisy(n):\n    if n < 0:\n        raise ValueError(n)\n"
                         "    return random.random() * 0 + n if n % 2 else n + random.random()\n")
    aug = augment_task(task, sandbox, AugmentConfig(per_task=20, seed=1))
    added = aug.tests[1:]
    assert added and aug.meta["augment"]["original_tests"] == 1
    for test in added:  # only odd non-negative n survive: the reference is exact there
        n = int(re.search(r"noisy\((-?\d+)\)", test).group(1))
        assert n >= 0 and n % 2 == 1
    assert _judge(sandbox, aug, aug.solution).all_passed


def test_config_and_cli_errors(capsys):
    with pytest.raises(ValueError, match="per_task must be an integer >= 1, got 0"):
        AugmentConfig(per_task=0)
    with pytest.raises(UnknownNameError, match="Unknown task suite 'nosuch'"):
        load_tasks("nosuch")
    assert main(["code", "tasks", "augment", "humaneval", "--per-task", "0", "--sandbox", "process"]) == 2
    assert "--per-task must be an integer >= 1" in capsys.readouterr().err
    assert main(["code", "tasks", "augment", "nosuch", "--sandbox", "process"]) == 2
    assert "Unknown task suite 'nosuch'" in capsys.readouterr().err


def test_cli_writes_a_suite_the_code_env_runs(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"task_id": ABS_SUM.task_id, "prompt": ABS_SUM.prompt, "tests": list(ABS_SUM.tests),
                               "entry_point": "abs_sum", "solution": ABS_SUM.solution}) + "\n")
    out = tmp_path / "aug.jsonl"
    args = build_parser().parse_args(["code", "tasks", "augment", str(src), "--out", str(out), "--per-task", "5",
                                      "--sandbox", "process", "--json"])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["added"] == 5 and summary["config"]["per_task"] == 5
    (task,) = load_jsonl(out)
    assert len(task.tests) == 7 and task.meta["augment"]["original_tests"] == 2
    from adiff_env.code.env import CodeTestsEnv

    env = CodeTestsEnv(tasks=str(out), sandbox="process")
    try:
        env.reset(seed=0)
        _, reward, _, _, _ = env.step(WRONG_ABS_SUM)
        assert reward < 1.0
        env.reset(seed=0)
        _, reward, terminated, _, _ = env.step(ABS_SUM.solution)
        assert reward == 1.0 and terminated
    finally:
        env.close()


@pytest.mark.slow
def test_docker_sandbox_augments(docker_client):
    sb = make_sandbox("docker", pool_size=1)
    try:
        aug = augment_task(ABS_SUM, sb, AugmentConfig(per_task=6))
        assert len(aug.tests) > len(ABS_SUM.tests)
        assert _judge(sb, aug, aug.solution).all_passed
        assert not _judge(sb, aug, WRONG_ABS_SUM).all_passed
    finally:
        sb.close()
