"""adiff_env.config: the one validator of every config dataclass, and the configs that use it."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from adiff_env import config
from adiff_env.errors import ConfigError, UnknownNameError, UserError


@dataclass(frozen=True)
class Small:
    arch: str = "small"
    width: int = 8  # channels of the first layer


@dataclass(frozen=True)
class Big:
    arch: str = "big"
    mults: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Top:
    """A test config. ``rate`` is the step size."""

    name: str
    rate: float = 0.5
    flag: bool = False
    limit: int | None = None
    model: Small | Big = field(default_factory=Small)
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0, got {self.rate}.")


def test_round_trip_with_nested_tagged_union():
    top = config.from_dict(Top, {"name": "a", "rate": 1, "model": {"arch": "big", "mults": [1, 2, 4]},
                                 "weights": {"goal": 1}})
    assert top.rate == 1.0 and isinstance(top.rate, float)
    assert top.model == Big(mults=(1, 2, 4)) and top.weights == {"goal": 1.0}
    assert config.to_dict(top) == {"name": "a", "rate": 1.0, "flag": False, "limit": None,
                                   "model": {"arch": "big", "mults": [1, 2, 4]}, "weights": {"goal": 1.0}}
    assert config.from_dict(Top, config.to_dict(top)) == top


def test_unknown_key_suggests_the_nearest_and_lists_all():
    with pytest.raises(UnknownNameError, match=r"f.toml: Unknown Top key 'rte'. Did you mean 'rate'\? "
                                               r"Known Top keys: flag, limit, model, name, rate, weights") as exc:
        config.from_dict(Top, {"name": "a", "rte": 1}, "f.toml")
    assert isinstance(exc.value, UserError) and isinstance(exc.value, ValueError)
    with pytest.raises(UnknownNameError, match="Also unknown: 'zz'"):
        config.from_dict(Top, {"name": "a", "rte": 1, "zz": 2})


@pytest.mark.parametrize(("data", "message"), [
    ({}, r"missing required key\(s\) \['name'\]"),
    ({"name": 3}, "name must be str, got 3"),
    ({"name": "a", "rate": True}, "rate must be float, got True"),
    ({"name": "a", "flag": 1}, "flag must be true or false, got 1"),
    ({"name": "a", "limit": 2.5}, "limit must be"),
    ({"name": "a", "model": {"arch": "big", "mults": ["x"]}}, r"model: mults\[0\] must be int"),
    ({"name": "a", "model": {"width": 3}}, "model needs 'arch'"),
    ({"name": "a", "rate": -1}, "rate must be >= 0, got -1"),  # the class's own check, prefixed
])
def test_bad_values_name_the_key_and_the_value(data, message):
    with pytest.raises(ConfigError, match=message):
        config.from_dict(Top, data, "src")


def test_unknown_tag_lists_the_members():
    with pytest.raises(UnknownNameError, match="Unknown arch 'huge'. Known archs: big, small"):
        config.from_dict(Top, {"name": "a", "model": {"arch": "huge"}})


def test_text_is_parsed_by_the_field_type():
    assert config.check_options(Top, {"rate": "0.25", "flag": "true", "limit": "none", "name": "5"}) == {
        "rate": 0.25, "flag": True, "limit": None, "name": "5"}
    assert config.coerce("1_000", int) == 1000
    with pytest.raises(ConfigError, match="must be int"):
        config.coerce("ten", int, "steps")


def test_replace_takes_partial_nested_tables_and_switches_union_members():
    top = config.from_dict(Top, {"name": "a", "model": {"arch": "big"}})
    assert config.replace(top, {"model": {"mults": [3]}}).model == Big(mults=(3,))
    assert config.replace(top, {"model": {"arch": "small", "width": 2}}).model == Small(width=2)
    with pytest.raises(UnknownNameError, match="Did you mean 'mults'"):
        config.replace(top, {"model": {"mult": [3]}})


def test_add_arguments_help_and_defaults_come_from_the_dataclass():
    parser = argparse.ArgumentParser()
    names = config.add_arguments(parser, Top, exclude=["model", "weights"], flags={"rate": ["-r"]})
    text = parser.format_help()
    assert "the step size (default: 0.5)" in text and "--flag, --no-flag" in text and "(no default)" in text
    args = parser.parse_args(["-r", "0.1", "--no-flag"])
    assert config.given_arguments(args, names) == {"rate": 0.1, "flag": False}
    with pytest.raises(SystemExit):
        parser.parse_args(["--limit", "x"])
    assert config.field_help(Small)["width"] == "channels of the first layer"


def test_preset_model_tables_are_typed_and_match_the_denoiser_defaults():
    from adiff_env.diffusion.transformer import TransformerConfig
    from adiff_env.diffusion.unet import UNetConfig
    from adiff_env.planners.preset import (
        PlannerPreset,
        TransformerModelConfig,
        UNetModelConfig,
        load_preset,
        preset_names,
    )

    for name in preset_names():
        assert isinstance(load_preset(name).model, UNetModelConfig)
    for ours, theirs in ((UNetModelConfig, UNetConfig), (TransformerModelConfig, TransformerConfig)):
        shared = {f.name for f in dataclasses.fields(ours)} & {f.name for f in dataclasses.fields(theirs)}
        assert shared and all(config.default_of(ours, n) == config.default_of(theirs, n) for n in shared)
    base = {"name": "t", "env": "adiff/PointMaze-UMaze-v0", "dataset": "d-v0"}
    preset = PlannerPreset.from_dict({**base, "model": {"arch": "transformer", "d_model": 64}})
    assert preset.model == TransformerModelConfig(d_model=64)
    assert PlannerPreset.from_dict(preset.to_dict()) == preset
    assert "horizon" not in preset.model.denoiser_config(6, 32, 9)  # the transformer takes any length
    with pytest.raises(UnknownNameError, match="Did you mean 'dim'"):
        PlannerPreset.from_dict({**base, "model": {"arch": "temporal_unet", "dims": 3}})
    with pytest.raises(ConfigError, match="train.steps must be >= 1"):
        preset.replace(train={"steps": 0})


def test_coder_presets_and_configs_go_through_the_validator():
    from adiff_env.code.config import (
        CoderActConfig,
        CoderTrainConfig,
        coder_preset_names,
        load_coder_preset,
    )

    assert {"coder-default", "coder-ar"} <= set(coder_preset_names())
    preset = load_coder_preset("coder-default")
    assert preset.train.steps == 500 and preset.train.seed == 2 and preset.act.samples == 16
    assert load_coder_preset("coder-ar").train.arch == "ar"
    with pytest.raises(UnknownNameError, match="Did you mean 'samples'"):
        CoderActConfig.from_dict({"smaples": 2})
    with pytest.raises(ConfigError, match="steps must be int"):
        CoderTrainConfig.from_dict({"steps": "many"})
    with pytest.raises(UnknownNameError, match="Unknown coder preset"):
        load_coder_preset("nope")


def test_other_configs_use_it():
    from adiff_env.baselines.offline import make_config
    from adiff_env.datasets.recipes import DatasetRecipe
    from adiff_env.sandbox.base import Limits

    with pytest.raises(UnknownNameError, match="Did you mean 'expectile'"):
        make_config("iql", expectil=0.7)
    with pytest.raises(UnknownNameError, match="Did you mean 'steps'"):
        DatasetRecipe.from_dict({"env": "x", "step": 3})
    assert config.from_dict(Limits, {"wall_s": 2}).wall_s == 2.0
