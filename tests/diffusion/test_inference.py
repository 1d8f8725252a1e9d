"""The traced denoiser (acting's ``compile="trace"``) computes what the model computes, bit for
bit on CPU, falls back to the model where a trace could differ, and re-traces after a weight
change; the sampling loop's fast path (no eval()/train() walk for a model in eval mode) leaves
samples and modes as before."""

from __future__ import annotations

import pytest
import torch

from adiff_env.diffusion import (
    Inpainting,
    TemporalUNet,
    TransformerConfig,
    TransformerDenoiser,
    UNetConfig,
    make_schedule,
    make_scheduler,
    sample,
)
from adiff_env.diffusion.inference import ACCELERATIONS, TracedDenoiser, accelerate
from adiff_env.errors import UnknownNameError

H, D, C = 16, 3, 2


def _unet(seed: int = 0) -> TemporalUNet:
    torch.manual_seed(seed)
    return TemporalUNet(UNetConfig(transition_dim=D, horizon=H, dim=8, dim_mults=(1, 2), cond_dim=C)).eval()


def _transformer(seed: int = 0) -> TransformerDenoiser:
    torch.manual_seed(seed)
    model = TransformerDenoiser(TransformerConfig(transition_dim=D, d_model=16, n_heads=2, n_layers=1,
                                                  cond_dim=C))
    for p in model.parameters():  # adaLN-Zero starts at zero output: give the test something to compare
        torch.nn.init.normal_(p, std=0.2)
    return model.eval()


@pytest.mark.parametrize("make", [_unet, _transformer])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("with_cond", [True, False])
def test_traced_forward_equals_the_model_bit_for_bit(make, batch, with_cond):
    model = make()
    fast = accelerate(model, "trace")
    gen = torch.Generator().manual_seed(batch)
    x, t = torch.randn(batch, H, D, generator=gen), torch.full((batch,), 5)
    cond = torch.randn(batch, C, generator=gen) if with_cond else None
    with torch.inference_mode():
        want = model(x, t, cond)
        got, again = fast(x, t, cond), fast(x, t, cond)
    assert torch.equal(got, want) and torch.equal(again, want)
    assert isinstance(fast, TracedDenoiser) and fast.graphs == 1


def test_one_graph_per_signature_and_a_retrace_after_a_weight_change():
    model = _unet()
    fast = TracedDenoiser(model)
    x1, x4, c1, c4 = torch.randn(1, H, D), torch.randn(4, H, D), torch.randn(1, C), torch.randn(4, C)
    with torch.no_grad():
        fast(x1, torch.full((1,), 3), c1)
        fast(x4, torch.full((4,), 3), c4)
        fast(x1, torch.full((1,), 7), c1)  # another step, same signature
        assert fast.graphs == 2
        before = fast(x1, torch.full((1,), 3), c1)
        model.final[1].bias.add_(1.0)  # in place, as an optimizer step is
        after = fast(x1, torch.full((1,), 3), c1)
        assert fast.graphs == 1  # the stale graphs were dropped
        assert torch.equal(after, model(x1, torch.full((1,), 3), c1))
        assert torch.allclose(after, before + 1.0, atol=1e-5)


def test_falls_back_to_the_model_with_gradients_in_training_mode_and_for_int_steps():
    model = _unet()
    fast = TracedDenoiser(model)
    x = torch.randn(2, H, D, requires_grad=True)
    out = fast(x, torch.full((2,), 4), torch.randn(2, C))  # grad enabled: DPS differentiates through it
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(fast(x, 4, None), model(x, 4, None))  # an int step is not traced
        fast.train()
        assert model.training
        fast(x, torch.full((2,), 4), None)
    assert fast.graphs == 0


@pytest.mark.parametrize("sampler,steps", [("ddim", 3), ("consistency", 1), ("ddpm", 2)])
def test_sampling_with_the_traced_denoiser_gives_the_same_plans(sampler, steps):
    model = _unet()
    sched = make_scheduler(sampler, make_schedule("cosine", 8), prediction="x0", steps=steps)
    cond = Inpainting.from_states(H, D, {0: torch.tensor([0.5, -0.5, 0.1]), -1: torch.tensor([1.0, 1.0, 0.0])})
    vector = torch.randn(2, C)
    runs = []
    fast = accelerate(model, "trace")
    assert not fast.training  # the wrapper takes the model's mode
    for denoiser in (model, fast, fast):
        gen = torch.Generator().manual_seed(11)
        runs.append(sample(denoiser, sched, (2, H, D), device="cpu", generator=gen, conditioner=cond, cond=vector).samples)
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
    assert not model.training and not fast.training and fast.graphs == 1


def test_sample_keeps_the_model_mode_and_runs_a_training_model_in_eval_mode():
    """Before the fast path every call walked eval()/train(was_training); a model in training
    mode still is switched (dropout off), one in eval mode is run as it is: the same samples."""
    model = TransformerDenoiser(TransformerConfig(transition_dim=D, d_model=16, n_heads=2, n_layers=1,
                                                  dropout=0.5))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    sched = make_scheduler("ddim", make_schedule("cosine", 8), prediction="x0", steps=2)
    draws = []
    for training in (True, False, True):
        model.train(training)
        draws.append(sample(model, sched, (2, H, D), device="cpu", generator=torch.Generator().manual_seed(0)).samples)
        assert model.training is training and all(m.training is training for m in model.modules())
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[1], draws[2])  # dropout off in all three


def test_unknown_acceleration_is_named_and_acting_lists_the_same_modes():
    from adiff_env.planners import preset

    with pytest.raises(UnknownNameError, match="bogus"):
        accelerate(_unet(), "bogus")
    assert preset.ACCELERATIONS == ACCELERATIONS
    with pytest.raises(UnknownNameError, match="trace"):
        preset.ActConfig(compile="jit")
    assert accelerate(_unet(), "none").__class__ is TemporalUNet
