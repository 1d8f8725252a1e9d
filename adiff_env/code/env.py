"""``adiff/CodeTests-v0``: write a program, the sandbox runs the task's tests, reward = share passed.

Observation (``Dict``):

- ``prompt``: ``Text`` -- the task prompt (characters outside :data:`CODE_CHARSET` shown as ``?``);
- ``feedback``: ``Text`` of at most :data:`FEEDBACK_MAX_CHARS` -- after a step, how many hidden
  (scored) tests passed and, with ``feedback="public"`` (default), the outcome of each *public*
  example (the task's ``public_tests``: HumanEval's docstring examples, a procedural episode's
  drawn examples), failures as ``public test N failed: STATEMENT -> ERROR``. Scored tests are
  never shown. ``feedback="full"`` is the old detailed feedback: each failed scored test (up
  to 8), its index, its statement (if ``show_tests``), error type and message. It LEAKS the
  scored tests (an agent can replay the expected values it was shown), so use it only where
  that does not matter. Empty after ``reset``;
- ``attempts_left``: ``Discrete(max_attempts + 1)``.

Action: the full program as a ``str`` (``Text(max_length=max_program_chars)``, default
:data:`ACTION_MAX_CHARS` = 16384 characters, charset :data:`CODE_CHARSET`: tab, newline, CR,
printable ASCII, Latin-1, Latin Extended-A, Greek, general punctuation, arrows, math
operators, box drawing and dingbats: about 1,200 characters, which covers real code and the
HumanEval prompts). ``bytes`` are accepted and decoded as UTF-8. Characters outside the charset are
still run (the charset only bounds ``action_space.sample()``).

Verdicts: the sandbox judges with the task's entry point stubbed (``Sandbox.run(...,
entry_point=...)``): the program's process only answers calls with plain data, the tests and
every comparison run in a trusted judge outside it (:mod:`adiff_env.sandbox.judge`). Procedural
tasks draw extra hidden inputs and the public examples per episode from the episode seed
(:func:`adiff_env.code.tasks.procedural.episode_tests`; ``reset(seed=s)`` uses ``s``).

Reward: ``(1 - compile_bonus) * passed / total + compile_bonus * compiled`` (``compile_bonus``
defaults to 0, so the reward is the share of tests passed, in [0, 1]). ``terminated`` when
every test passes; ``truncated`` after ``max_attempts`` steps. ``info``: ``task_id``,
``exec_result`` (the :class:`~adiff_env.sandbox.base.ExecResult` of the scored tests),
``public_result`` (the public examples' outcomes), ``pass_rate``,
``success`` (all tests passed) and ``attempt``.

Bad actions -- longer than the cap, NUL bytes, bytes that are not UTF-8, not a string,
syntax errors -- give a normal step: reward 0, an ``ExecResult`` with ``rejected`` or
``compiled=False`` and every test failed, and feedback that says what was wrong. They never
raise out of ``step`` and never reach the sandbox. (A failure of the sandbox itself, e.g. a
Docker engine that went away, does raise: it is not the agent's fault and must not be
scored as a 0.)

Task choice: ``reset(options={"task_id": ...})`` picks that task (unknown id ->
``UnknownNameError``). Otherwise ``reset(seed=s)`` picks ``order[s % n]`` where ``order`` is a
fixed shuffle of the suite, so seeds 0..n-1 visit every task once, spread over families
(what ``adiff evaluate --episodes N --seed 0`` does); ``reset()`` without a seed draws from
the env's ``np_random``.

Checkers: passes ``gymnasium.utils.env_checker.check_env(env.unwrapped, skip_render_check=True)``.
SB3's ``check_env`` does not apply: SB3 supports only Box/Discrete/MultiDiscrete/MultiBinary
(and Dict/Tuple of them) spaces, and rejects ``Text`` ("The observation returned by
`reset()` method must be a numpy array"); text agents use this env directly.

Sandbox: ``sandbox="docker"`` (default) or ``"process"`` is built by
``adiff_env.sandbox.make_sandbox`` and owned by this env (closed by ``close()``), so under
``gymnasium.vector`` each sub-env has its own sandbox (its own warm pool of ``pool_size``
containers). To share one pool, pass a ``Sandbox`` instance: the env then never closes it
(sync vector envs call it from one thread; async vector envs pickle the env factory, so
each worker process needs its own sandbox anyway).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.procedural import episode_tests
from adiff_env.code.tasks.suites import load_tasks
from adiff_env.errors import UnknownNameError
from adiff_env.sandbox.base import ExecResult, Limits, Sandbox, TestOutcome
from adiff_env.sandbox.jobs import check_program

ACTION_MAX_CHARS = 16_384
FEEDBACK_MAX_CHARS = 2_048
PROMPT_MIN_CHARS = 8_192  # the prompt space holds at least this, more if a task needs it
MAX_FAILED_SHOWN = 8
FEEDBACK_MODES = ("public", "full")
_BLOCKS = ((32, 0x7F), (0xA0, 0x180), (0x370, 0x400), (0x2000, 0x2070), (0x2190, 0x2300), (0x2500, 0x2580),
           (0x2700, 0x27C0))  # ASCII, Latin-1 + Latin Ext-A, Greek, punctuation, arrows + math, box drawing, dingbats
CODE_CHARSET: str = "\t\n\r" + "".join(chr(c) for lo, hi in _BLOCKS for c in range(lo, hi))
_CHARSET = frozenset(CODE_CHARSET)


def _visible(text: str, limit: int) -> str:
    """``text`` inside CODE_CHARSET (others -> '?') and at most ``limit`` characters."""
    text = "".join(c if c in _CHARSET else "?" for c in text)
    if len(text) > limit:
        text = text[: limit - 16] + "\n...[truncated]"
    return text


def _rejected(tests_total: int, reason: str, error_type: str, compiled: bool = True) -> ExecResult:
    failed = tuple(TestOutcome(i, False, error_type, reason[:200]) for i in range(tests_total))
    return ExecResult(tests=failed, compiled=compiled, rejected=reason if compiled else None,
                      error=None if compiled else reason, tests_total=tests_total)


class CodeTestsEnv(gym.Env):
    """Write-and-test environment over a :class:`~adiff_env.sandbox.base.Sandbox` (see module doc)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        tasks: str | os.PathLike | list[Task] = "procedural:train",
        sandbox: str | Sandbox = "docker",
        limits: Limits | dict | None = None,
        max_attempts: int = 4,
        max_program_chars: int = ACTION_MAX_CHARS,
        compile_bonus: float = 0.0,
        show_tests: bool = True,
        feedback: str = "public",
        pool_size: int = 1,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}.")
        if not 0.0 <= compile_bonus < 1.0:
            raise ValueError(f"compile_bonus must be in [0, 1), got {compile_bonus!r}; 0 disables it.")
        if not isinstance(max_program_chars, int) or max_program_chars < 1:
            raise ValueError(f"max_program_chars must be an int >= 1, got {max_program_chars!r}.")
        if feedback not in FEEDBACK_MODES:
            raise UnknownNameError("feedback mode", str(feedback), FEEDBACK_MODES)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}.")
        if isinstance(limits, dict):  # e.g. from `adiff evaluate --env-kwarg 'limits={"wall_s": 5}'`
            from adiff_env import config

            limits = config.from_dict(Limits, limits, "limits")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be an adiff_env.sandbox.Limits or a dict of its fields, got {type(limits).__name__}.")
        self.tasks: list[Task] = list(tasks) if isinstance(tasks, list) else load_tasks(tasks)
        if not self.tasks or not all(isinstance(t, Task) for t in self.tasks):
            raise ValueError("tasks must name a suite, a .jsonl path or be a non-empty list of Task objects.")
        self._by_id = {t.task_id: i for i, t in enumerate(self.tasks)}
        self._order = np.random.default_rng(0).permutation(len(self.tasks))
        self.limits = limits or Limits()
        self.max_attempts = max_attempts
        self.max_program_chars = max_program_chars
        self.compile_bonus = float(compile_bonus)
        self.show_tests = show_tests
        self.feedback = feedback
        self.render_mode = render_mode
        prompt_chars = max(PROMPT_MIN_CHARS, max(len(t.prompt) for t in self.tasks))
        self.observation_space = spaces.Dict(
            {
                "prompt": spaces.Text(max_length=prompt_chars, min_length=0, charset=CODE_CHARSET),
                "feedback": spaces.Text(max_length=FEEDBACK_MAX_CHARS, min_length=0, charset=CODE_CHARSET),
                "attempts_left": spaces.Discrete(max_attempts + 1),
            }
        )
        self.action_space = spaces.Text(max_length=max_program_chars, min_length=0, charset=CODE_CHARSET)
        if isinstance(sandbox, str):
            from adiff_env.sandbox import make_sandbox

            self.sandbox = make_sandbox(sandbox, limits=self.limits, pool_size=pool_size)
            self._owns_sandbox = True
        elif isinstance(sandbox, Sandbox):
            self.sandbox, self._owns_sandbox = sandbox, False
        else:
            raise TypeError(f"sandbox must be 'docker', 'process' or a Sandbox instance, got {type(sandbox).__name__}.")
        self.task: Task | None = None
        self._attempts_left = 0
        self._feedback = ""
        self._public: tuple[str, ...] = ()
        self._hidden: tuple[str, ...] = ()

    # ---- gymnasium API ---------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "task_id" in options:
            task_id = options["task_id"]
            if task_id not in self._by_id:
                raise UnknownNameError("task id", str(task_id), self._by_id)
            index = self._by_id[task_id]
        elif seed is not None:
            index = int(self._order[seed % len(self.tasks)])
        else:
            index = int(self.np_random.integers(len(self.tasks)))
        self.task = self.tasks[index]
        self._attempts_left = self.max_attempts
        self._feedback = ""
        if self.task.meta.get("source") == "procedural":
            episode_seed = seed if seed is not None else int(self.np_random.integers(2**31))
            self._public, self._hidden = episode_tests(self.task, episode_seed)
        else:
            self._public, self._hidden = tuple(self.task.public_tests), tuple(self.task.tests)
        info = {"task_id": self.task.task_id, "entry_point": self.task.entry_point, "tests_total": len(self._hidden),
                "public_tests": len(self._public)}
        return self._obs(), info

    def step(self, action: Any):
        if self.task is None:
            raise RuntimeError("CodeTestsEnv.step() called before reset(); call env.reset() first.")
        task = self.task
        n = len(self._hidden)
        public = None
        program, problem = self._decode(action)
        if problem is not None:
            result = _rejected(n, problem, "Rejected")
        else:
            syntax = self._syntax_error(program)
            if syntax is not None:
                result = _rejected(n, syntax, "SyntaxError", compiled=False)
            else:
                result, public = self._judge(task, program)
        self._attempts_left = max(0, self._attempts_left - 1)
        total = result.tests_total or len(result.tests) or n
        pass_rate = result.passed / total if total else 0.0
        compiled = problem is None and result.compiled and result.rejected is None
        reward = (1.0 - self.compile_bonus) * pass_rate + self.compile_bonus * float(compiled)
        terminated = result.all_passed
        truncated = not terminated and self._attempts_left == 0
        self._feedback = (self._format_feedback(result, total) if self.feedback == "full"
                          else self._public_feedback(result, public, total))
        info = {"task_id": task.task_id, "exec_result": result, "public_result": public, "pass_rate": pass_rate,
                "success": terminated, "attempt": self.max_attempts - self._attempts_left}
        return self._obs(), float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.task is None:
            return None
        return f"[{self.task.task_id}] attempts left {self._attempts_left}\n{self._feedback}"

    def close(self) -> None:
        if getattr(self, "_owns_sandbox", False):
            self.sandbox.close()
            self._owns_sandbox = False
        super().close()

    # ---- helpers -----------------------------------------------------------------------

    def _obs(self) -> dict[str, Any]:
        assert self.task is not None
        prompt_cap = self.observation_space["prompt"].max_length
        return {
            "prompt": _visible(self.task.prompt, prompt_cap),
            "feedback": _visible(self._feedback, FEEDBACK_MAX_CHARS),
            "attempts_left": self._attempts_left,
        }

    def _decode(self, action: Any) -> tuple[str, str | None]:
        """(program, None) or ("", why the action was rejected)."""
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, np.bytes_):
            action = bytes(action)
        if isinstance(action, str) and len(action) > self.max_program_chars:
            return "", (f"the program has {len(action)} characters; the limit is {self.max_program_chars}. "
                        f"Send a shorter program.")
        program, reason = check_program(action, self.limits)  # the sandbox's own admission rules
        return (program, None) if reason is None else ("", f"{reason}; fix the program text.")

    @staticmethod
    def _syntax_error(program: str) -> str | None:
        try:
            compile(program, "<program>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            line = (exc.text or "").rstrip("\n")
            where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
            return f"{type(exc).__name__}: {exc.msg} ({where})" + (f"\n    {line}" if line.strip() else "")
        except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _judge(self, task: Task, program: str) -> tuple[ExecResult, tuple[TestOutcome, ...]]:
        """Run hidden + public tests in one sandbox run; the scored result and the public outcomes."""
        tests = list(self._hidden) + list(self._public)
        if task.entry_point:
            result = self.sandbox.run(program, tests, self.limits, setup=task.setup, entry_point=task.entry_point,
                                      fallback=task.fallback_tests)
        else:  # no function to stub: the old way, flagged untrusted
            result = self.sandbox.run(f"{task.setup}\n{program}" if task.setup else program, tests, self.limits)
        n = len(self._hidden)
        public = tuple(dataclasses.replace(t, index=t.index - n) for t in result.tests[n:])
        return dataclasses.replace(result, tests=result.tests[:n], tests_total=n), public

    def _public_feedback(self, result: ExecResult, public: tuple[TestOutcome, ...] | None, total: int) -> str:
        """Counts of the scored tests, the public examples in detail; nothing of a scored test."""
        if result.rejected is not None:
            return f"Rejected: {result.rejected}"
        if not result.compiled and result.error and public is None:
            return f"The program does not compile: {result.error}"
        lines = [f"{result.passed}/{total} hidden tests passed."]
        flags = [name for name, on in (("timed out", result.timed_out), ("ran out of memory", result.oom),
                                       ("output truncated", result.output_truncated)) if on]
        if flags:
            lines.append("The run " + ", ".join(flags) + ".")
        if not result.compiled:
            lines.append("The program raised an error when run.")
            note = next((ln for ln in result.stderr.splitlines() if ln.startswith("[program]")), "")
            if note:
                lines.append(note[:600])
        if public:
            lines.append(f"{sum(t.passed for t in public)}/{len(public)} public examples passed.")
            for outcome in [t for t in public if not t.passed][:MAX_FAILED_SHOWN]:
                detail = outcome.error_type or "failed"
                message = outcome.message.strip()
                if message and not message.startswith("assertion failed"):
                    detail += f": {message[:300]}"
                lines.append(f"public test {outcome.index} failed: {self._public[outcome.index].strip()[:300]} -> {detail}")
        return "\n".join(lines)

    def _format_feedback(self, result: ExecResult, total: int) -> str:
        assert self.task is not None
        if result.rejected is not None:
            return f"Rejected: {result.rejected}"
        if not result.compiled and result.error:
            return f"The program does not compile: {result.error}"
        lines = [f"{result.passed}/{total} tests passed."]
        flags = [name for name, on in (("timed out", result.timed_out), ("ran out of memory", result.oom),
                                       ("output truncated", result.output_truncated)) if on]
        if flags:
            lines.append("The run " + ", ".join(flags) + ".")
        if not result.compiled:
            lines.append("The program raised an error when run" + (f": {result.error}" if result.error else "."))
            if result.stderr.strip():
                lines.append("stderr (end):\n" + result.stderr.strip()[-600:])
        elif result.error:
            lines.append(f"Harness error: {result.error}")
        failed = [t for t in result.tests if not t.passed]
        for outcome in failed[:MAX_FAILED_SHOWN]:
            line = f"test {outcome.index} failed"
            if self.show_tests and 0 <= outcome.index < len(self._hidden):
                test_lines = self._hidden[outcome.index].strip().splitlines()
                shown = next((ln.strip() for ln in test_lines if ln.strip().startswith("assert")), test_lines[0])
                line += ": " + shown[:300]
            detail = outcome.error_type or "failed"
            message = outcome.message.strip()
            if message and not message.startswith("assertion failed"):
                detail += f": {message[:300]}"
            lines.append(f"{line} -> {detail}")
        if len(failed) > MAX_FAILED_SHOWN:
            lines.append(f"({len(failed) - MAX_FAILED_SHOWN} more failed tests not shown)")
        return "\n".join(lines)
