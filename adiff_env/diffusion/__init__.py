"""The diffusion engine, domain-agnostic (no maze or code imports).

Trajectories are float tensors ``[B, H, D]`` (batch, horizon, features per step). The parts,
split as in diffusers (model / scheduler / pipeline):

- :mod:`.schedules`   noise schedules (linear, cosine, sigmoid): betas, alphas, alphas_cumprod
- :mod:`.unet`, :mod:`.transformer`  denoisers ``forward(x_t, t, cond=None)``
- :mod:`.objectives`  the training loss (predict eps / x0 / v; L1 / L2; per-entry weights)
- :mod:`.schedulers`  DDPM, DDIM and consistency ``set_timesteps`` / ``step`` / ``add_noise``
- :mod:`.conditioning` inpainting of fixed entries
- :mod:`.guidance`, :mod:`.value`  reward-gradient guidance (x_t, DPS, x0), learned value network
- :mod:`.distill`     one/two-step students distilled from a teacher's DDIM trajectories
- :mod:`.pipeline`    the sampling loop -> ranked candidates
- :mod:`.training`    EMA, AdamW + warmup/cosine LR, one train step
- :mod:`.models`      architecture names for rebuilding networks from JSON
- :mod:`.discrete`, :mod:`.discrete_model`  masked discrete diffusion over token ids (MDLM /
  LLaDA / ReMDM): mask schedules, loss, prompt-conditioned transformer, sampler, SMC resampling
"""

from adiff_env.diffusion.conditioning import Conditioner, Inpainting
from adiff_env.diffusion.discrete import (
    MaskedSampler,
    MaskedState,
    MaskSchedule,
    UnmaskConfig,
    effective_sample_size,
    make_mask_schedule,
    mask_tokens,
    masked_diffusion_loss,
    systematic_resample,
)
from adiff_env.diffusion.discrete_model import MaskedTransformer, MaskedTransformerConfig
from adiff_env.diffusion.distill import DistillConfig, DistillResult, TeacherPool, distill, teacher_pool
from adiff_env.diffusion.guidance import GUIDANCE_METHODS, GuidanceConfig, Guide, RewardGuide, ValueGuide
from adiff_env.diffusion.models import (
    ARCHITECTURES,
    build_model,
    count_parameters,
    load_model,
    load_prefixed,
    load_weights,
    model_spec,
    prefixed_state,
    tensors_under,
)
from adiff_env.diffusion.objectives import DiffusionObjective, LossOutput
from adiff_env.diffusion.pipeline import SampleOutput, sample
from adiff_env.diffusion.schedulers import (
    ConsistencyScheduler,
    DDIMScheduler,
    DDPMScheduler,
    Scheduler,
    SchedulerOutput,
    make_scheduler,
    scheduler_from_dict,
)
from adiff_env.diffusion.schedules import (
    CosineSchedule,
    LinearSchedule,
    NoiseSchedule,
    SigmoidSchedule,
    make_schedule,
    schedule_from_dict,
)
from adiff_env.diffusion.training import EMA, OptimConfig, TrainStep
from adiff_env.diffusion.transformer import TransformerConfig, TransformerDenoiser
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.diffusion.value import ValueNet, ValueNetConfig, value_loss

__all__ = [
    "ARCHITECTURES", "EMA", "GUIDANCE_METHODS", "ConsistencyScheduler", "DistillConfig", "DistillResult",
    "TeacherPool", "distill", "teacher_pool", "Conditioner", "CosineSchedule", "DDIMScheduler", "DDPMScheduler",
    "DiffusionObjective", "GuidanceConfig", "Guide", "Inpainting", "LinearSchedule", "LossOutput",
    "NoiseSchedule", "OptimConfig", "RewardGuide", "SampleOutput", "Scheduler", "SchedulerOutput",
    "SigmoidSchedule", "TemporalUNet", "TrainStep", "TransformerConfig", "TransformerDenoiser",
    "UNetConfig", "ValueGuide", "ValueNet", "ValueNetConfig", "build_model", "count_parameters",
    "load_model", "load_prefixed", "load_weights", "tensors_under", "make_schedule", "make_scheduler", "model_spec", "prefixed_state", "sample", "schedule_from_dict",
    "scheduler_from_dict", "value_loss",
    "MaskSchedule", "MaskedSampler", "MaskedState", "MaskedTransformer", "MaskedTransformerConfig",
    "UnmaskConfig", "effective_sample_size", "make_mask_schedule", "mask_tokens",
    "masked_diffusion_loss", "systematic_resample",
]
