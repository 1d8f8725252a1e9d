"""Code task suites: the Task type, a JSONL loader (task and MBPP formats), HumanEval, and a
procedural generator with train/test splits by family. Start with :func:`load_tasks`."""

from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.jsonl import load_jsonl, save_jsonl
from adiff_env.code.tasks.procedural import families, generate
from adiff_env.code.tasks.suites import load_tasks, suite_names
from adiff_env.code.tasks.variants import reference_solutions

__all__ = ["Task", "families", "generate", "load_jsonl", "load_tasks", "reference_solutions", "save_jsonl", "suite_names"]
