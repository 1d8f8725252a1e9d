"""``adiff maze distill TEACHER``: distil a trained trajectory planner into a one/two-step
consistency planner (:func:`adiff_env.planners.distill.distill_planner`), registered as a new
version whose parent is the teacher. Defaults come from :class:`~adiff_env.diffusion.distill.DistillConfig`
and :class:`~adiff_env.planners.distill_pool.PoolConfig` (``--acting-share``: the share of the
teacher pool drawn under the teacher's own acting conditions instead of dataset windows).
"""

from __future__ import annotations

import argparse
import json

from adiff_env.cli._common import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from adiff_env import config
    from adiff_env.diffusion.distill import DistillConfig
    from adiff_env.planners.distill import DEFAULT_STUDENT
    from adiff_env.planners.distill_pool import PoolConfig

    p = sub.add_parser("distill", help="distil a planner into a one/two-step consistency planner",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("teacher", help="registry spec of the teacher, e.g. pointmaze-umaze or pointmaze-umaze@v2")
    p.add_argument("--name", help="registry name of the student (default TEACHER-distilled)")
    p.add_argument("--sampler-steps", type=positive_int, default=1, choices=(1, 2), help="sampling steps (default 1)")
    p.add_argument("--eta", type=float, default=0.0, help="fresh-noise share between two steps (default 0)")
    p.add_argument("--student", default=json.dumps(DEFAULT_STUDENT), help="student model spec as JSON (default: a dim-16 U-Net)")
    p.add_argument("--init-from", help="continue from this distilled version's student")
    p.add_argument("--student-horizon", type=positive_int, default=None,
                   help="rows the student plans (default: --init-from's, else the teacher's horizon); the teacher pool is cut to them")
    p.set_defaults(func=run, distill_fields=config.add_arguments(p, DistillConfig, title="distillation"),
                   pool_fields=config.add_arguments(p, PoolConfig, title="teacher pool"))


def run(args: argparse.Namespace) -> int:
    from adiff_env import config
    from adiff_env.agents import check_agent
    from adiff_env.diffusion.distill import DistillConfig
    from adiff_env.planners.distill import distill_planner
    from adiff_env.planners.distill_pool import PoolConfig

    check_agent(f"planner:{args.teacher}", resolve=True)  # the teacher exists before any work
    cfg = config.from_dict(DistillConfig, config.given_arguments(args, args.distill_fields), "adiff maze distill options")
    pool = config.from_dict(PoolConfig, config.given_arguments(args, args.pool_fields), "adiff maze distill options")
    out = distill_planner(args.teacher, name=args.name, sampler_steps=args.sampler_steps, eta=args.eta,
                          student_model=json.loads(args.student), config=cfg, init_from=args.init_from,
                          pool=pool, student_horizon=args.student_horizon)
    print(json.dumps({"checkpoint": out.checkpoint.spec, "teacher": out.teacher,
                      "student_parameters": out.student_parameters, "teacher_parameters": out.teacher_parameters,
                      "pool_wall_s": round(out.result.pool_wall_s, 1), "train_wall_s": round(out.result.train_wall_s, 1),
                      "loss_first": out.result.losses[0] if out.result.losses else None,
                      "loss_last": out.result.losses[-1] if out.result.losses else None}, indent=2))
    return 0
