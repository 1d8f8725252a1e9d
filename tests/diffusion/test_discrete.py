"""Masked discrete diffusion engine: schedules, masking, loss, transformer, sampler, SMC."""

from __future__ import annotations

import math

import pytest
import torch

from adiff_env.diffusion import (
    MaskedSampler,
    MaskedTransformer,
    MaskedTransformerConfig,
    UnmaskConfig,
    effective_sample_size,
    make_mask_schedule,
    mask_tokens,
    masked_diffusion_loss,
    systematic_resample,
)
from adiff_env.errors import UnknownNameError

V, MASK, PAD = 12, 11, 0


def tiny_model(seed: int = 0, **kw) -> MaskedTransformer:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=V, d_model=32, n_layers=2, n_heads=2, max_prompt_len=8, max_len=24)
    cfg.update(kw)
    return MaskedTransformer(MaskedTransformerConfig(**cfg)).eval()


# ---------------------------------------------------------------- schedules and masking


def test_schedule_values_and_monotone():
    t = torch.linspace(0, 1, 101)
    lin, cos = make_mask_schedule("linear"), make_mask_schedule("cosine")
    assert torch.allclose(lin.alpha(t), 1 - t)
    assert torch.allclose(cos.alpha(t), torch.cos(math.pi / 2 * t), atol=1e-6)
    for s in (lin, cos):
        a = s.alpha(t)
        assert a[0] == pytest.approx(1.0) and a[-1] == pytest.approx(0.0, abs=1e-6)
        assert bool((a[1:] <= a[:-1]).all())
        w = s.loss_weight(t)
        assert bool(torch.isfinite(w).all()) and bool((w > 0).all())
    assert torch.allclose(lin.loss_weight(torch.tensor([0.25, 0.5, 1.0])), torch.tensor([4.0, 2.0, 1.0]))
    assert lin.loss_weight(torch.tensor([0.0])).item() == pytest.approx(1000.0, rel=1e-4)  # clamped at T_MIN
    # cosine weight: (pi/2) sin / (1 - cos)
    tt = torch.tensor([0.5])
    want = (math.pi / 2) * math.sin(math.pi / 4) / (1 - math.cos(math.pi / 4))
    assert cos.loss_weight(tt).item() == pytest.approx(want, rel=1e-5)
    with pytest.raises(UnknownNameError, match="'cosin'"):
        make_mask_schedule("cosin")


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_mask_rate_matches_schedule(kind):
    sched = make_mask_schedule(kind)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 10, (4, 4000), generator=gen)
    t = torch.tensor([0.1, 0.4, 0.7, 0.95])
    x_t, masked = mask_tokens(x0, t, sched, MASK, generator=gen)
    rate = masked.float().mean(dim=1)
    want = 1 - sched.alpha(t)
    # binomial std <= sqrt(0.25 / 4000) ~ 0.008; 4 sigma
    assert torch.allclose(rate, want, atol=0.032)
    assert bool((x_t[masked] == MASK).all()) and bool((x_t[~masked] == x0[~masked]).all())


def test_mask_tokens_valid_and_at_least_one():
    sched = make_mask_schedule("linear")
    x0 = torch.randint(0, 10, (8, 10))
    valid = torch.arange(10)[None, :] < torch.tensor([3, 4, 5, 6, 7, 8, 9, 10])[:, None]
    _, masked = mask_tokens(x0, torch.zeros(8), sched, MASK, valid=valid, generator=torch.Generator().manual_seed(1))
    assert masked.sum(dim=1).tolist() == [1] * 8  # t=0: exactly the forced one per row
    assert not bool((masked & ~valid).any())
    _, masked = mask_tokens(x0, torch.ones(8), sched, MASK, valid=valid)
    assert bool((masked == valid).all())  # t=1: everything valid masked
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mask_tokens(x0, torch.full((8,), 1.5), sched, MASK)
    with pytest.raises(ValueError, match=r"\(8,\)"):
        mask_tokens(x0, torch.ones(3), sched, MASK)
    with pytest.raises(ValueError, match="valid"):
        mask_tokens(x0, torch.ones(8), sched, MASK, valid=valid[:, :4])


# ---------------------------------------------------------------- loss


def test_loss_perfect_vs_uniform_and_masked_only():
    sched = make_mask_schedule("linear")
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 10, (6, 16), generator=gen)
    t = torch.full((6,), 0.5)
    _, masked = mask_tokens(x0, t, sched, MASK, generator=gen)
    perfect = torch.nn.functional.one_hot(x0, V).float() * 50.0
    uniform = torch.zeros(6, 16, V)
    lp = masked_diffusion_loss(perfect, x0, masked, t, sched)
    lu = masked_diffusion_loss(uniform, x0, masked, t, sched)
    assert lp.item() < 1e-6
    want = 2.0 * math.log(V) * masked.sum().item() / x0.numel()  # weight 1/t = 2
    assert lu.item() == pytest.approx(want, rel=1e-5)
    # garbage logits at unmasked positions do not count
    bad = perfect.clone()
    bad[~masked] = torch.randn(int((~masked).sum()), V) * 10
    assert masked_diffusion_loss(bad, x0, masked, t, sched).item() < 1e-6
    # normalised by valid tokens
    valid = torch.ones_like(masked)
    valid[:, 8:] = False
    lv = masked_diffusion_loss(uniform, x0, masked & valid, t, sched, valid=valid)
    assert lv.item() == pytest.approx(2.0 * math.log(V) * (masked & valid).sum().item() / valid.sum().item(), rel=1e-5)
    assert torch.isfinite(masked_diffusion_loss(uniform, x0, masked, torch.zeros(6), sched))
    with pytest.raises(ValueError, match="logits"):
        masked_diffusion_loss(uniform[:, :4], x0, masked, t, sched)


# ---------------------------------------------------------------- transformer


def test_transformer_shapes_padding_and_errors():
    m = tiny_model()
    x = torch.randint(0, V, (3, 10))
    p = torch.randint(0, V, (3, 6))
    assert m(x, p).shape == (3, 10, V)
    assert m.length_logits(p).shape == (3, 25)
    assert m.head.weight is m.tok.weight  # tied by default
    assert tiny_model(tie_head=False).head.weight is not tiny_model(tie_head=False).tok.weight
    # pad keys are ignored: changing tokens under the pad does not change other logits
    x_pad = torch.zeros(3, 10, dtype=torch.bool)
    x_pad[:, 7:] = True
    p_pad = torch.zeros(3, 6, dtype=torch.bool)
    p_pad[:, 4:] = True
    a = m(x, p, x_pad, p_pad)
    x2, p2 = x.clone(), p.clone()
    x2[:, 7:] = (x2[:, 7:] + 1) % V
    p2[:, 4:] = (p2[:, 4:] + 1) % V
    b = m(x2, p2, x_pad, p_pad)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-5)
    la, lb = m.length_logits(p, p_pad), m.length_logits(p2, p_pad)
    assert torch.allclose(la, lb, atol=1e-5)
    all_pad = torch.ones(3, 6, dtype=torch.bool)
    assert torch.isfinite(m(x, p, torch.ones_like(x_pad), all_pad)).all()
    with pytest.raises(ValueError, match="25"):
        m(torch.zeros(1, 25, dtype=torch.long), p[:1])
    with pytest.raises(ValueError, match="prompt batch 3"):
        m(x[:1], p)
    with pytest.raises(ValueError, match="x_pad"):
        m(x, p, x_pad[:, :3])
    with pytest.raises(ValueError, match="n_heads 3"):
        MaskedTransformerConfig(vocab_size=V, d_model=32, n_heads=3)
    with pytest.raises(ValueError, match="vocab_size"):
        MaskedTransformerConfig(vocab_size=1)


# ---------------------------------------------------------------- sampler


@pytest.mark.parametrize("strategy", ["confidence", "random"])
@pytest.mark.parametrize("steps", [1, 3, 8, 30])
@pytest.mark.parametrize("remask", [0.0, 0.3])
def test_sampler_never_leaves_mask_and_respects_forbidden_and_pad(strategy, steps, remask):
    m = tiny_model(seed=steps)
    forbidden = (3, 4)
    cfg = UnmaskConfig(steps=steps, strategy=strategy, temperature=1.0, remask=remask, forbidden=forbidden)
    sampler = MaskedSampler(m, MASK, cfg, pad_id=PAD)
    prompt = torch.randint(0, 10, (5, 6))
    lengths = torch.tensor([1, 4, 9, 12, 12])
    out = sampler.sample(prompt, None, lengths, generator=torch.Generator().manual_seed(steps))
    assert out.shape == (5, 12)
    assert not bool((out == MASK).any())
    for f in forbidden:
        assert not bool((out == f).any())
    pad = torch.arange(12)[None, :] >= lengths[:, None]
    assert bool((out[pad] == PAD).all())


def test_pad_positions_never_change_during_steps():
    m = tiny_model()
    sampler = MaskedSampler(m, MASK, UnmaskConfig(steps=6, remask=0.5), pad_id=7)
    prompt = torch.randint(0, 10, (3, 5))
    state = sampler.init(prompt, None, torch.tensor([2, 5, 8]))
    gen = torch.Generator().manual_seed(0)
    while not sampler.done(state):
        state = sampler.step(state, prompt, None, gen)
        assert bool((state.x[state.pad] == 7).all())
    assert state.step == 6 and not bool((state.x == MASK).any())


def test_steps_equal_length_reveals_one_per_step():
    m = tiny_model()
    L = 9
    sampler = MaskedSampler(m, MASK, UnmaskConfig(steps=L, temperature=0.0))
    prompt = torch.randint(0, 10, (2, 4))
    state = sampler.init(prompt, None, torch.tensor([L, L]))
    for s in range(L):
        before = (state.x == MASK).sum(dim=1)
        state = sampler.step(state, prompt)
        assert ((state.x == MASK).sum(dim=1) == before - 1).all(), s
    assert sampler.done(state)


def test_schedule_counts_and_predict_x0():
    m = tiny_model()
    sampler = MaskedSampler(m, MASK, UnmaskConfig(steps=4, temperature=0.0))
    prompt = torch.randint(0, 10, (1, 4))
    state = sampler.init(prompt, None, torch.tensor([20]))
    counts = []
    while not sampler.done(state):
        x0 = sampler.predict_x0(state, prompt)
        assert not bool((x0 == MASK).any())
        assert bool((x0[state.x != MASK] == state.x[state.x != MASK]).all())
        state = sampler.step(state, prompt)
        counts.append(int((state.x == MASK).sum()))
    assert counts == [15, 10, 5, 0]


def test_remask_keeps_schedule_counts():
    m = tiny_model()
    sampler = MaskedSampler(m, MASK, UnmaskConfig(steps=4, remask=0.5), pad_id=PAD)
    prompt = torch.randint(0, 10, (1, 4))
    state = sampler.init(prompt, None, torch.tensor([20]))
    gen = torch.Generator().manual_seed(0)
    state = sampler.step(state, prompt, None, gen)
    first = state.x.clone()
    state = sampler.step(state, prompt, None, gen)
    assert int((state.x == MASK).sum()) == 10
    # half of the 5 decoded tokens (2) were re-masked: at least one earlier decode is masked again
    assert bool(((first != MASK) & (state.x == MASK)).any())


def test_temperature_zero_is_deterministic_and_generator_reproducible():
    m = tiny_model()
    prompt = torch.randint(0, 10, (2, 5))
    lengths = torch.tensor([10, 7])
    greedy = MaskedSampler(m, MASK, UnmaskConfig(steps=5, temperature=0.0))
    assert torch.equal(greedy.sample(prompt, None, lengths), greedy.sample(prompt, None, lengths))
    hot = MaskedSampler(m, MASK, UnmaskConfig(steps=5, temperature=2.0, strategy="random"))
    a = hot.sample(prompt, None, lengths, torch.Generator().manual_seed(3))
    b = hot.sample(prompt, None, lengths, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        UnmaskConfig(steps=0)
    with pytest.raises(UnknownNameError, match="'greedy'"):
        UnmaskConfig(strategy="greedy")
    with pytest.raises(ValueError, match="-1"):
        UnmaskConfig(temperature=-1)
    with pytest.raises(ValueError, match="remask must be in \\[0, 1\\), got 1.0"):
        UnmaskConfig(remask=1.0)
    with pytest.raises(UnknownNameError, match="'cube'"):
        UnmaskConfig(schedule="cube")
    m = tiny_model()
    prompt = torch.randint(0, 10, (2, 4))
    sampler = MaskedSampler(m, MASK, UnmaskConfig())
    with pytest.raises(ValueError, match=r"lengths must be >= 1, got \[0, 3\]"):
        sampler.init(prompt, None, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        sampler.init(prompt, None, torch.tensor([3]))
    with pytest.raises(ValueError, match="width 2"):
        sampler.init(prompt, None, torch.tensor([3, 3]), width=2)
    bad = MaskedSampler(m, MASK, UnmaskConfig(forbidden=(99,)))
    with pytest.raises(ValueError, match="99"):
        bad.sample(prompt, None, torch.tensor([3, 3]))
    everything = MaskedSampler(m, MASK, UnmaskConfig(forbidden=tuple(range(V))))
    with pytest.raises(ValueError, match="whole vocabulary"):
        everything.sample(prompt, None, torch.tensor([3, 3]))


def test_tiny_model_overfits_two_prompts_and_reproduces():
    torch.manual_seed(0)
    m = tiny_model(d_model=48, n_layers=2, n_heads=4).train()
    prompts = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    p_pad = prompts == 0
    targets = torch.tensor([[5, 6, 7, 8, 9, 1, 2, 3], [9, 9, 1, 4, 4, 2, 0, 0]])
    x_pad = torch.tensor([[False] * 8, [False] * 6 + [True] * 2])
    sched = make_mask_schedule("linear")
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    reps = 16
    P, T, XP, PP = (z.repeat(reps, 1) for z in (prompts, targets, x_pad, p_pad))
    for _ in range(300):
        t = torch.rand(P.shape[0], generator=gen)
        x_t, masked = mask_tokens(T, t, sched, MASK, valid=~XP, generator=gen)
        loss = masked_diffusion_loss(m(x_t, P, XP, PP), T, masked, t, sched, valid=~XP)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    for steps in (1, 4, 8):
        sampler = MaskedSampler(m, MASK, UnmaskConfig(steps=steps, temperature=0.0), pad_id=0)
        out = sampler.sample(prompts, p_pad, torch.tensor([8, 6]))
        assert torch.equal(out, targets), (steps, out)


# ---------------------------------------------------------------- SMC


def test_systematic_resample_counts_and_frequencies():
    w = torch.tensor([0.1, 0.2, 0.3, 0.4])
    gen = torch.Generator().manual_seed(0)
    idx = systematic_resample(w.log(), gen)
    assert idx.shape == (4,) and idx.dtype == torch.long
    # equal weights: every particle survives exactly once
    assert systematic_resample(torch.zeros(1000), gen).tolist() == list(range(1000))
    # systematic: each particle i appears floor or ceil of N * w_i times
    lw = torch.log(torch.tensor([0.05, 0.15, 0.5, 0.3, 0.0]))
    for seed in range(20):
        counts = torch.bincount(systematic_resample(lw, torch.Generator().manual_seed(seed)), minlength=5)
        assert counts.sum() == 5 and counts[4] == 0
        expect = 5 * lw.exp()
        assert bool((counts >= expect.floor()).all()) and bool((counts <= expect.ceil()).all())
    # frequencies over many draws follow the weights
    total = torch.zeros(5)
    for seed in range(400):
        total += torch.bincount(systematic_resample(lw, torch.Generator().manual_seed(seed)), minlength=5)
    assert torch.allclose(total / total.sum(), lw.exp(), atol=0.03)


def test_effective_sample_size_and_errors():
    assert effective_sample_size(torch.zeros(8)) == pytest.approx(8.0)
    assert effective_sample_size(torch.tensor([0.0, -math.inf, -math.inf])) == pytest.approx(1.0)
    assert effective_sample_size(torch.tensor([0.0, -1000.0])) == pytest.approx(1.0)
    assert effective_sample_size(torch.tensor([3.0])) == pytest.approx(1.0)
    assert effective_sample_size(torch.log(torch.tensor([0.5, 0.5, 0.0]))) == pytest.approx(2.0)
    assert systematic_resample(torch.tensor([5.0])).tolist() == [0]
    for bad, msg in [
        (torch.tensor([]), "non-empty"),
        (torch.zeros(2, 2), r"\(2, 2\)"),
        (torch.tensor([0.0, float("nan")]), "NaN"),
        (torch.tensor([0.0, math.inf]), "inf"),
        (torch.tensor([-math.inf, -math.inf]), "all log_weights are -inf"),
    ]:
        with pytest.raises(ValueError, match=msg):
            effective_sample_size(bad)
        with pytest.raises(ValueError, match=msg):
            systematic_resample(bad)
