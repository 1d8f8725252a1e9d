import json

import pytest
import torch

from adiff_env.diffusion._config import config_to_dict
from adiff_env.diffusion.models import build_model, count_parameters, model_spec
from adiff_env.diffusion.transformer import TransformerConfig, TransformerDenoiser
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.diffusion.value import ValueNet, ValueNetConfig
from adiff_env.errors import UnknownNameError


@pytest.mark.parametrize("mults,horizon", [((1,), 5), ((1, 2), 8), ((1, 2, 4), 32), ((1, 2, 4, 8), 64)])
def test_unet_shapes(mults, horizon):
    m = TemporalUNet(UNetConfig(transition_dim=3, horizon=horizon, dim=8, dim_mults=mults))
    x = torch.randn(2, horizon, 3)
    assert m(x, torch.tensor([0, 7])).shape == (2, horizon, 3)
    assert m(x, 3).shape == (2, horizon, 3)


def test_unet_default_size_is_about_one_million():
    m = TemporalUNet(UNetConfig(transition_dim=6, horizon=128))
    assert 0.9e6 < count_parameters(m) < 1.1e6


def test_unet_horizon_must_divide():
    with pytest.raises(ValueError, match=r"multiple of 2\*\*\(len\(dim_mults\)-1\) = 4.*use horizon 8 or 12"):
        UNetConfig(transition_dim=2, horizon=10, dim_mults=(1, 2, 4))
    m = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2, 4)))
    with pytest.raises(ValueError, match="horizon 6"):
        m(torch.randn(1, 6, 2), 0)
    with pytest.raises(ValueError, match=r"\[B, H, 2\]"):
        m(torch.randn(8, 2), 0)
    with pytest.raises(ValueError, match="divisible by n_groups"):
        TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=12))


def test_transformer_shapes_and_any_horizon():
    m = TransformerDenoiser(TransformerConfig(transition_dim=4, d_model=32, n_layers=2, n_heads=4))
    for h in (1, 7, 33):
        assert m(torch.randn(3, h, 4), torch.tensor([1, 2, 3])).shape == (3, h, 4)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        TransformerConfig(transition_dim=4, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match=r"scalar or shape \[3\]"):
        m(torch.randn(3, 5, 4), torch.tensor([1, 2]))


@pytest.mark.parametrize("make", [
    lambda c: TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2), cond_dim=c)),
    lambda c: TransformerDenoiser(TransformerConfig(transition_dim=2, d_model=16, n_layers=1, n_heads=2, cond_dim=c)),
])
def test_global_condition(make):
    torch.manual_seed(0)
    m = make(3)
    for p in m.parameters():  # adaLN-zero starts as identity; perturb so cond matters
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(2, 8, 2)
    a, b = m(x, 1, torch.zeros(2, 3)), m(x, 1, torch.ones(2, 3))
    assert not torch.allclose(a, b)
    assert m(x, 1, None).shape == (2, 8, 2)  # None: no condition term (null condition)
    with pytest.raises(ValueError, match="cond_dim=0"):
        make(0)(x, 1, torch.zeros(2, 3))


def test_value_net_shape_and_horizon_check():
    v = ValueNet(ValueNetConfig(transition_dim=2, horizon=16, dim=8, dim_mults=(1, 2)))
    assert v(torch.randn(5, 16, 2), 0).shape == (5,)
    with pytest.raises(ValueError, match="horizon 16"):
        v(torch.randn(5, 8, 2), 0)


def test_model_spec_json_round_trip():
    for m in (
        TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2))),
        TransformerDenoiser(TransformerConfig(transition_dim=2, d_model=16, n_layers=1, n_heads=2)),
        ValueNet(ValueNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1,))),
    ):
        spec = json.loads(json.dumps(model_spec(m)))
        rebuilt = build_model(spec)
        assert type(rebuilt) is type(m) and rebuilt.config == m.config
        rebuilt.load_state_dict(m.state_dict())
    with pytest.raises(UnknownNameError, match="temporal_unet"):
        build_model({"arch": "unet", "config": {}})
    with pytest.raises(ValueError, match="Unknown UNetConfig key"):
        build_model({"arch": "temporal_unet", "config": {**config_to_dict(m.config), "x": 1}})
    with pytest.raises(ValueError, match="arch"):
        build_model({"config": {}})
    with pytest.raises(TypeError, match="not a known architecture"):
        model_spec(torch.nn.Linear(2, 2))
