"""adiff/CodeTests-v0 on the real ProcessSandbox (and Docker where an engine answers)."""


import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.code.env import ACTION_MAX_CHARS, CodeTestsEnv
from adiff_env.code.tasks import generate
from adiff_env.errors import UnknownNameError
from adiff_env.sandbox import Limits, make_sandbox
from adiff_env.sandbox.base import ExecResult

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SUITE = "procedural:train:2"


@pytest.fixture()
def env():
    e = gym.make("adiff/CodeTests-v0", tasks=SUITE, sandbox="process", max_attempts=3)
    yield e
    e.close()


def _solve(env, seed=0):
    obs, info = env.reset(seed=seed)
    return obs, info, env.unwrapped.task


def test_check_env_passes(env):
    check_env(env.unwrapped, skip_render_check=True)


def test_spaces_documented(env):
    space = env.observation_space
    assert set(space.spaces) == {"prompt", "feedback", "attempts_left"}
    assert env.action_space.max_length == ACTION_MAX_CHARS
    code = "def f(xs):\n\treturn [x for x in xs if x > 1]  # ok: {}()[]<>=!'\"\\\n"
    assert env.action_space.contains(code)
    assert env.observation_space["prompt"].contains("x ≤ y ➞ z")
    assert space["attempts_left"].n == 4


def test_humaneval_prompts_fit_the_prompt_space():
    from adiff_env.code.tasks.humaneval import load_humaneval

    env = CodeTestsEnv(tasks="humaneval", sandbox="process")
    assert all(env.observation_space["prompt"].contains(t.prompt) for t in load_humaneval())  # shown unchanged
    env.close()


def test_episode_solved_on_second_attempt(env):
    obs, info, task = _solve(env, seed=1)
    assert obs["prompt"] == task.prompt and obs["feedback"] == "" and obs["attempts_left"] == 3
    assert info["task_id"] == task.task_id and info["tests_total"] == len(task.tests) + 4  # + the episode's draws
    assert info["public_tests"] == 2
    wrong = f"def {task.entry_point}(*args):\n    return None\n"
    obs, reward, terminated, truncated, info = env.step(wrong)
    assert reward < 1.0 and not terminated and not truncated and obs["attempts_left"] == 2
    assert isinstance(info["exec_result"], ExecResult) and info["success"] is False
    assert "tests passed" in obs["feedback"] and "failed: assert" in obs["feedback"]
    obs, reward, terminated, truncated, info = env.step(task.solution)
    assert reward == 1.0 and terminated and not truncated and info["success"]
    assert info["exec_result"].all_passed and info["attempt"] == 2


def test_partial_credit_is_share_of_tests(env):
    _, _, task = _solve(env, seed=2)
    env.reset(options={"task_id": "procedural/take_smallest/0"})
    task = env.unwrapped.task
    # right for inputs of length <= K only: some tests pass, some fail
    k = task.meta["params"]["k"]
    program = f"def take_smallest(xs):\n    return sorted(xs) if len(xs) <= {k} else []\n"
    _, reward, terminated, _, info = env.step(program)
    result = info["exec_result"]
    assert 0.0 < reward < 1.0 and not terminated
    assert reward == pytest.approx(result.passed / result.tests_total) and result.tests_total >= len(task.tests)


def test_truncated_after_max_attempts(env):
    _solve(env)
    flags = [env.step("x = 1\n")[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


@pytest.mark.parametrize(
    ("action", "feedback"),
    [
        ("x" * (ACTION_MAX_CHARS + 1), f"the limit is {ACTION_MAX_CHARS}"),
        ("def f():\n    return 1\x00\n", "contains a NUL byte (at character 21)"),
        (b"def f():\n    return '\xff'\n", "not valid UTF-8"),
        ("x = '\ud800'\n", "not valid UTF-8"),
        ("def f(:\n    pass\n", "does not compile: SyntaxError"),
        ("if True:\nreturn 1\n", "IndentationError"),
        (None, "must be str or UTF-8 bytes"),
        (12, "got int"),
    ],
)
def test_bad_actions_are_normal_steps(env, action, feedback):
    _solve(env)
    obs, reward, terminated, truncated, info = env.step(action)
    assert reward == 0.0 and not terminated and not truncated
    assert feedback in obs["feedback"]
    assert env.observation_space.contains(obs)
    result = info["exec_result"]
    assert result.passed == 0 and (result.rejected or not result.compiled)


def test_bytes_and_numpy_actions_accepted(env):
    _, _, task = _solve(env)
    assert env.step(task.solution.encode("utf-8"))[1] == 1.0
    _solve(env)
    assert env.step(np.array(task.solution))[1] == 1.0


def test_program_that_crashes_at_import(env):
    _solve(env)
    obs, reward, *_ = env.step("raise RuntimeError('boom at import')\n")
    assert reward == 0.0 and "raised an error" in obs["feedback"] and "boom at import" in obs["feedback"]


def test_task_selection(env):
    env.reset(options={"task_id": "procedural/clip_values/1"})
    assert env.unwrapped.task.task_id == "procedural/clip_values/1"
    with pytest.raises(UnknownNameError, match="Did you mean 'procedural/clip_values/1'"):
        env.reset(options={"task_id": "procedural/clip_value/1"})
    n = len(env.unwrapped.tasks)
    ids = [env.reset(seed=s)[1]["task_id"] for s in range(n)]
    assert len(set(ids)) == n  # seeds 0..n-1 visit every task once
    assert env.reset(seed=5)[1] == env.reset(seed=5)[1]
    assert len({t.split("/")[1] for t in ids[:6]}) > 2  # spread over families, not in file order
    env.reset(seed=0)
    drawn = {env.reset()[1]["task_id"] for _ in range(20)}
    assert len(drawn) > 1


def test_compile_bonus_and_render():
    task = generate("repeat_chars", 0)
    env = CodeTestsEnv(tasks=[task], sandbox="process", compile_bonus=0.1, render_mode="ansi")
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step("def repeat_chars(s):\n    return s\n")  # right for "" only
        assert info["exec_result"].passed == 1
        assert reward == pytest.approx(0.1 + 0.9 * 1 / info["exec_result"].tests_total)
        assert env.step("def (")[1] == 0.0
        assert "attempts left" in env.render()
    finally:
        env.close()


def test_feedback_hides_tests_when_asked():
    task = generate("repeat_chars", 0)
    env = CodeTestsEnv(tasks=[task], sandbox="process", show_tests=False, feedback="full")
    try:
        env.reset(seed=0)
        obs = env.step("def repeat_chars(s):\n    return ''\n")[0]
        assert "test 2 failed -> AssertionError" in obs["feedback"] and "assert repeat_chars" not in obs["feedback"]
    finally:
        env.close()


def test_constructor_validation():
    with pytest.raises(ValueError, match="max_attempts"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", max_attempts=0)
    with pytest.raises(ValueError, match="compile_bonus"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", compile_bonus=1.5)
    with pytest.raises(ValueError, match="max_program_chars"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", max_program_chars=0)
    with pytest.raises(ValueError, match="render_mode"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", render_mode="human")
    with pytest.raises(TypeError, match="limits"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", limits="fast")
    with pytest.raises(ValueError, match=r"Unknown Limits key 'wall'. Did you mean 'wall_s'\?"):
        CodeTestsEnv(tasks=SUITE, sandbox="process", limits={"wall": 1})
    assert CodeTestsEnv(tasks=SUITE, sandbox="process", limits={"wall_s": 3}).limits.wall_s == 3
    with pytest.raises(TypeError, match="Sandbox instance"):
        CodeTestsEnv(tasks=SUITE, sandbox=3)
    with pytest.raises(UnknownNameError, match="sandbox kind"):
        CodeTestsEnv(tasks=SUITE, sandbox="podman")
    with pytest.raises(UnknownNameError, match="task suite"):
        CodeTestsEnv(tasks="nosuch", sandbox="process")
    with pytest.raises(RuntimeError, match="before reset"):
        CodeTestsEnv(tasks=SUITE, sandbox="process").step("x = 1")


def test_shared_sandbox_instance_is_not_closed():
    sandbox = make_sandbox("process", limits=Limits(wall_s=5))
    env = CodeTestsEnv(tasks=SUITE, sandbox=sandbox)
    env.reset(seed=0)
    env.close()
    task = generate("repeat_chars", 0)
    assert sandbox.run(task.solution, list(task.tests)).all_passed  # still usable
    sandbox.close()


def test_humaneval_through_env():
    env = gym.make("adiff/CodeTests-v0", tasks="humaneval", sandbox="process")
    try:
        obs, info = env.reset(options={"task_id": "HumanEval/32"})
        assert "find_zero" in obs["prompt"]
        _, reward, terminated, *_ = env.step(env.unwrapped.task.solution)
        assert reward == 1.0 and terminated
        env.reset(options={"task_id": "HumanEval/0"})
        _, reward, terminated, *_ = env.step(env.unwrapped.task.prompt + "    pass\n")
        assert reward < 1.0 and not terminated
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env(mode):
    kwargs = {"vector_kwargs": {"shared_memory": False}} if mode == "async" else {}
    envs = gym.make_vec("adiff/CodeTests-v0", num_envs=2, vectorization_mode=mode,
                        tasks=SUITE, sandbox="process", max_attempts=2, **kwargs)
    try:
        obs, infos = envs.reset(seed=[3, 4])
        assert len(obs["prompt"]) == 2 and list(obs["attempts_left"]) == [2, 2]
        ids = list(infos["task_id"])
        tasks = {t.task_id: t for t in CodeTestsEnv(tasks=SUITE, sandbox="process").tasks}
        actions = (tasks[ids[0]].solution, "def nope(:\n")
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert rewards.tolist() == [1.0, 0.0] and terminated.tolist() == [True, False]
        assert "SyntaxError" in obs["feedback"][1]
    finally:
        envs.close()


@pytest.mark.slow
@pytest.mark.docker
def test_docker_backed_episode(docker_client):
    env = gym.make("adiff/CodeTests-v0", tasks="procedural:test:1", sandbox="docker", pool_size=1)
    try:
        obs, info = env.reset(seed=0)
        task = env.unwrapped.task
        obs, reward, terminated, _, info = env.step(f"def {task.entry_point}(*a):\n    while True: pass\n")
        assert reward == 0.0 and not terminated
        obs, reward, terminated, _, info = env.step(task.solution)
        assert reward == 1.0 and terminated and info["exec_result"].all_passed
    finally:
        env.close()


def _replay_program(entry_point, feedback):
    """A program that answers exactly the calls whose expected values the feedback showed."""
    import re

    table = {}
    for m in re.finditer(rf"(assert {entry_point}\((.*)\) == (.+?)) -> ", feedback):
        table[m.group(2)] = m.group(3)
    cases = "".join(f"    if repr_args == {k!r}:\n        return {v}\n" for k, v in table.items())
    return (f"def {entry_point}(*args):\n    repr_args = ', '.join(repr(a) for a in args)\n{cases}    return None\n",
            len(table))


@pytest.mark.parametrize("feedback", ["public", "full"])
def test_replaying_feedback_across_attempts(feedback):
    """Public feedback never shows a scored test, so replaying what it showed earns nothing more."""
    env = CodeTestsEnv(tasks="procedural:train:1", sandbox="process", max_attempts=3, feedback=feedback)
    gains = []
    try:
        for seed in range(6):
            _, info = env.reset(seed=seed)
            task = env.unwrapped.task
            obs, honest, *_ = env.step(f"def {task.entry_point}(*args):\n    return None\n")
            hidden = env.unwrapped._hidden
            if feedback == "public":
                assert not any(t.strip() in obs["feedback"] for t in hidden), obs["feedback"]
            program, shown = _replay_program(task.entry_point, obs["feedback"])
            _, replayed, *_ = env.step(program)
            gains.append(replayed - honest)
    finally:
        env.close()
    if feedback == "public":
        assert max(gains) <= 1e-9, gains
    else:  # documented as leaking: the replay scores above the honest wrong program
        assert max(gains) > 0


def test_procedural_hidden_inputs_differ_per_episode():
    env = CodeTestsEnv(tasks=[generate("take_smallest", 0)], sandbox="process")
    try:
        env.reset(seed=1)
        first = (env.unwrapped._public, env.unwrapped._hidden)
        env.reset(seed=2)
        second = (env.unwrapped._public, env.unwrapped._hidden)
        env.reset(seed=1)
        assert (env.unwrapped._public, env.unwrapped._hidden) == first and first != second
        task = env.unwrapped.task
        assert first[1][: len(task.tests)] == task.tests  # the task's own edge cases are always scored
        _, reward, terminated, _, info = env.step(task.solution)
        assert reward == 1.0 and terminated and info["exec_result"].trusted and all(t.passed for t in info["public_result"])
    finally:
        env.close()


def test_public_feedback_for_humaneval_shows_docstring_examples():
    env = CodeTestsEnv(tasks="humaneval", sandbox="process")
    try:
        env.reset(options={"task_id": "HumanEval/150"})
        obs, reward, *_ = env.step("def x_or_y(n, x, y):\n    return y\n")
        assert "hidden tests passed" in obs["feedback"] and "public test 0 failed: assert x_or_y(7, 34, 12) == 34" in obs["feedback"]
        assert "1/2 public examples passed" in obs["feedback"]
        with pytest.raises(UnknownNameError, match="feedback mode"):
            CodeTestsEnv(tasks=SUITE, sandbox="process", feedback="all")
    finally:
        env.close()
