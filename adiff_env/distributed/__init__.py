"""Scale-out on existing engines, never a home-made cluster.

- :mod:`adiff_env.distributed.ddp`: PyTorch DDP for training, launched by torchrun
  (``torch.distributed.run``): process-group set-up from torchrun's environment (gloo on CPU,
  NCCL on GPU), rank helpers, the global-batch draws that make N ranks x batch B train exactly
  like one process with batch N*B, and :func:`~adiff_env.distributed.ddp.launch`.
- :mod:`adiff_env.distributed.ray_bench`: ``adiff bench --ray``: agent x env x seed cells on Ray
  actors (optional extra ``adiff-env[ray]``; ray is imported only there).

Importing this package imports neither torch nor ray.
"""
