"""pass@k of a code model's raw samples (Chen et al. 2021's unbiased estimator).

``evaluate_pass_at_k(coder, tasks, n=10)`` draws ``n`` programs per task from the coder (no
selection: this measures the model), runs each distinct program against all the task's tests
in a sandbox, and reports ``pass@k = E_task[1 - C(n - c, k) / C(n, k)]`` for each ``k <= n``
(``c`` = correct samples), per family too. The agent's own pass@1 -- one submission chosen
among its samples -- is measured by ``adiff evaluate adiff/CodeTests-v0 --agent coder:NAME``.

Evaluation task sets (seeds 0..999 are never used for training, see
:mod:`adiff_env.code.corpus`): :func:`eval_tasks` ``("train", n)`` = unseen
instances of the training families, ``("test", n)`` = the held-out families.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from adiff_env.code.select import normalized_source


def pass_at_k_estimate(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn from ``n`` (``c`` correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}.")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def eval_tasks(split: str, per_family: int, start: int = 0) -> list[Any]:
    """``per_family`` unseen instances (seeds ``start..``) of each family of ``split``."""
    from adiff_env.code.tasks.procedural import load_procedural

    if start + per_family > 1000:
        raise ValueError(f"evaluation seeds must stay below 1000 (training uses 1000+), got start={start}, "
                         f"per_family={per_family}.")
    return load_procedural(split, count=per_family, start=start)


def evaluate_pass_at_k(coder: Any, tasks: Sequence[Any], act: Any, n: int = 10, ks: Sequence[int] = (1, 10),
                       sandbox: Any = "process", seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """pass@k of ``coder``'s samples on ``tasks`` (module doc). ``sandbox``: a Sandbox, or the
    kind of one to create and close here (``"docker"``, ``"process"``)."""
    ks = [k for k in ks if k <= n]
    own = isinstance(sandbox, str)
    if own:
        from adiff_env.sandbox import make_sandbox
        from adiff_env.sandbox.base import Limits

        sandbox = make_sandbox(sandbox, limits=Limits(wall_s=5.0, test_s=1.0))
    per_task, by_family = [], defaultdict(list)
    sample_s = 0.0
    try:
        for i, task in enumerate(tqdm(tasks, desc="pass@k", disable=not progress, leave=False)):
            gen = torch.Generator().manual_seed(seed * 100_003 + i)
            tic = time.perf_counter()
            programs, _ = coder.generate(task.prompt, n, act, gen)
            sample_s += time.perf_counter() - tic
            verdict: dict[str, bool] = {}
            correct = 0
            for program in programs:
                key = normalized_source(program)
                if key is None:
                    continue
                if key not in verdict:
                    verdict[key] = sandbox.run(program, list(task.tests), setup=task.setup,
                                               entry_point=task.entry_point).all_passed  # trusted
                correct += verdict[key]
            row = {"task_id": task.task_id, "family": task.meta.get("family", "?"), "correct": correct, "n": n,
                   "distinct": len(set(programs)), "parsed": sum(normalized_source(p) is not None for p in programs)}
            for k in ks:
                row[f"pass@{k}"] = pass_at_k_estimate(n, correct, k)
            per_task.append(row)
            by_family[row["family"]].append(row)
    finally:
        if own:
            sandbox.close()
    out: dict[str, Any] = {"tasks": len(per_task), "n": n}
    for k in ks:
        out[f"pass@{k}"] = sum(r[f"pass@{k}"] for r in per_task) / max(1, len(per_task))
    out["parse_rate"] = sum(r["parsed"] for r in per_task) / max(1, n * len(per_task))
    out["programs_per_s"] = n * len(per_task) / sample_s if sample_s else None
    out["by_family"] = {f: {f"pass@{k}": sum(r[f"pass@{k}"] for r in rows) / len(rows) for k in ks}
                        for f, rows in sorted(by_family.items())}
    out["per_task"] = per_task
    return out
