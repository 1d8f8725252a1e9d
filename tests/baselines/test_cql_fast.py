"""CQL's fused penalty (one critic call for the 3n sampled actions and the data action, the policy
run once per state) computes the same losses and the same update as the per-block form it
replaced: that reference is kept here, written as it was, and both run on one fixed batch."""

from __future__ import annotations

import math

import pytest
import torch

from adiff_env.baselines.cql import CQLConfig, CQLLearner
from adiff_env.baselines.nets import DoubleQ, TanhGaussianPolicy, polyak

INP, A, B = 7, 3, 16


def reference_penalty(learner: CQLLearner, x: torch.Tensor, nx: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The per-block CQL(H) penalty as first written (states repeated ``n`` times, one critic call per block)."""
    n, B, A = learner.cfg.n_action_samples, x.shape[0], learner.action_dim
    xr, nxr = x.repeat_interleave(n, dim=0), nx.repeat_interleave(n, dim=0)
    uniform = torch.rand((B * n, A), generator=learner.gen, device=learner.device) * 2 - 1
    with torch.no_grad():
        a_pi, logp_pi = learner.policy.sample(xr, learner.gen)
        a_next, logp_next = learner.policy.sample(nxr, learner.gen)
    blocks = [
        learner.q(xr, uniform) + A * math.log(2.0),
        learner.q(xr, a_pi) - logp_pi,
        learner.q(xr, a_next) - logp_next,
    ]
    cat = torch.cat([b.view(2, B, n) for b in blocks], dim=-1)
    return torch.logsumexp(cat, dim=-1).mean(-1) - learner.q(x, a).mean(-1)


def reference_update(learner: CQLLearner, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """``CQLLearner.update`` as first written, with :func:`reference_penalty` and a second ``Q(x, a)``."""
    cfg = learner.cfg
    x, a, r, nx, d = batch["x"], batch["action"], batch["reward"], batch["next_x"], batch["done"]
    alpha = learner.log_alpha.exp().detach()
    a_pi, logp = learner.policy.sample(x, learner.gen)
    loss_pi = (alpha * logp - learner.q(x, a_pi).min(0).values).mean()
    learner.opt_pi.zero_grad(set_to_none=True)
    loss_pi.backward()
    learner.opt_pi.step()
    loss_alpha = -(learner.log_alpha * (logp.detach() - learner.action_dim)).mean()
    learner.opt_alpha.zero_grad(set_to_none=True)
    loss_alpha.backward()
    learner.opt_alpha.step()
    with torch.no_grad():
        a_next, logp_next = learner.policy.sample(nx, learner.gen)
        q_next = learner.q_target(nx, a_next).min(0).values - alpha * logp_next
        target = r + cfg.discount * (1.0 - d) * q_next
    loss_td = (learner.q(x, a) - target).square().mean(1).sum()
    penalty = reference_penalty(learner, x, nx, a)
    loss_q = loss_td + cfg.cql_alpha * penalty.sum()
    learner.opt_q.zero_grad(set_to_none=True)
    loss_q.backward()
    learner.opt_q.step()
    polyak(learner.q_target, learner.q, cfg.tau)
    return {"loss/q_td": loss_td.item(), "loss/cql": penalty.mean().item(), "loss/policy": loss_pi.item(),
            "alpha": alpha.item()}


def fixed_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {"x": torch.randn(B, INP, generator=g), "action": torch.rand(B, A, generator=g) * 2 - 1,
            "reward": (torch.rand(B, generator=g) < 0.3).float(), "next_x": torch.randn(B, INP, generator=g),
            "done": torch.zeros(B)}


def make_learner(seed: int = 0) -> CQLLearner:
    torch.manual_seed(seed)
    cfg = CQLConfig(batch_size=B, hidden=32, n_action_samples=5)
    return CQLLearner(INP, A, cfg, torch.device("cpu"), torch.Generator().manual_seed(seed))


def test_policy_sample_with_repeats_equals_sampling_the_repeated_states():
    torch.manual_seed(0)
    pi = TanhGaussianPolicy(INP, A, hidden=16, layers=2)
    x = torch.randn(6, INP)
    a1, logp1 = pi.sample(x, torch.Generator().manual_seed(1), repeats=4)
    a2, logp2 = pi.sample(x.repeat_interleave(4, 0), torch.Generator().manual_seed(1))
    assert a1.shape == (24, A) and logp1.shape == (24,)
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(logp1, logp2)


def test_double_q_many_equals_forward_on_repeated_states():
    torch.manual_seed(0)
    q = DoubleQ(INP, A, hidden=16, layers=2)
    q.norm.set(torch.randn(INP), torch.rand(INP) + 0.5)
    x, a = torch.randn(6, INP), torch.rand(6, 5, A) * 2 - 1
    out = q.many(x, a)
    assert out.shape == (2, 6, 5)
    torch.testing.assert_close(out, q(x.repeat_interleave(5, 0), a.flatten(0, 1)).view(2, 6, 5))


def test_fused_penalty_equals_the_per_block_reference_on_a_fixed_batch():
    learner = make_learner()
    batch = fixed_batch()
    state = learner.gen.get_state()
    ref = reference_penalty(learner, batch["x"], batch["next_x"], batch["action"])
    learner.gen.set_state(state)
    new = learner.conservative_penalty(batch["x"], batch["next_x"], batch["action"])
    assert ref.shape == new.shape == (2,)
    torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-5)


def test_update_gives_the_reference_losses_gradients_and_weights():
    """Two identical learners, one fixed batch, the same random draws: the fused ``update`` and the
    reference log the same losses, leave the same gradients (critic: TD + alpha * penalty) and
    the same weights, over three consecutive updates."""
    fast, ref = make_learner(), make_learner()
    batch = fixed_batch()
    for _ in range(3):
        logs_fast, logs_ref = fast.update(batch), reference_update(ref, batch)
        assert logs_fast.keys() == logs_ref.keys()
        for key in logs_ref:
            assert logs_fast[key] == pytest.approx(logs_ref[key], rel=1e-5, abs=1e-6), key
        for name in ("policy", "q", "q_target"):
            mods = (fast.modules()[name], ref.modules()[name])
            for (pname, p_fast), p_ref in zip(mods[0].named_parameters(), mods[1].parameters()):
                torch.testing.assert_close(p_fast, p_ref, rtol=1e-5, atol=1e-6, msg=f"{name}.{pname}")
                if p_ref.grad is not None:
                    torch.testing.assert_close(p_fast.grad, p_ref.grad, rtol=1e-4, atol=1e-6, msg=f"grad {name}.{pname}")
        torch.testing.assert_close(fast.log_alpha, ref.log_alpha)
    assert ref.q.q1[0].weight.grad is not None and ref.q.q1[0].weight.grad.abs().sum() > 0  # the critic did learn
