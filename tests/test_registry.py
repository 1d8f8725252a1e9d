import json
import os
from pathlib import Path

import pytest
import torch

from adiff_env.diffusion.models import build_model, load_model, model_spec, prefixed_state
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.schedulers import make_scheduler, scheduler_from_dict
from adiff_env.diffusion.schedules import CosineSchedule
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.diffusion.value import ValueNet, ValueNetConfig
from adiff_env.errors import UnknownNameError
from adiff_env.registry import (
    CheckpointError,
    CheckpointMetadata,
    ModelRegistry,
    adiff_home,
    average_tensors,
    check_name,
    load_weights,
    save_average,
)


@pytest.fixture
def registry(tmp_path):
    return ModelRegistry(tmp_path / "home", read_only_roots=[])


def save_tiny(registry, name="tiny", **meta):
    torch.manual_seed(len(registry.versions(name)))
    model = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2)))
    ckpt = registry.save(
        name,
        CheckpointMetadata(kind="test-planner", env="Toy-v0", seed=3, **meta),
        tensors=model.state_dict(),
        config={"denoiser": model_spec(model)},
    )
    return model, ckpt


def test_default_home_and_shipped_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path / "h"))
    assert adiff_home() == tmp_path / "h"
    reg = ModelRegistry()
    assert reg.models_dir == tmp_path / "h" / "models"
    assert reg.read_only_roots and reg.read_only_roots[0].parts[-2:] == ("planners", "pretrained")
    monkeypatch.delenv("ADIFF_HOME")
    assert adiff_home() == Path.home() / ".adiff"


def test_save_load_round_trip_gives_identical_samples(registry):
    model, ckpt = save_tiny(registry, steps=100, scores={"score": 1.5}, normalizer={"mean": [0, 1]})
    assert ckpt.path == registry.models_dir / "tiny" / "v1" and ckpt.spec == "tiny@v1"
    assert sorted(p.name for p in ckpt.path.iterdir()) == ["config.json", "metadata.json", "weights.safetensors"]
    meta = json.loads((ckpt.path / "metadata.json").read_text())
    assert meta["version"] == 1 and meta["name"] == "tiny" and meta["seed"] == 3
    assert meta["created_at"] and set(meta["files"]) == {"config.json", "weights.safetensors"}
    assert ckpt.metadata.scores == {"score": 1.5} and ckpt.metadata.normalizer == {"mean": [0, 1]}

    loaded = registry.load("tiny", kind="test-planner")
    rebuilt = build_model(loaded.config["denoiser"])
    load_weights(rebuilt, loaded.tensors)
    sched = make_scheduler("ddim", CosineSchedule(10), prediction="x0", steps=5)
    sched2 = scheduler_from_dict(json.loads(json.dumps(sched.config())))
    a = sample(model, sched, (3, 8, 2), device="cpu", generator=torch.Generator().manual_seed(5))
    b = sample(rebuilt, sched2, (3, 8, 2), device="cpu", generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.samples, b.samples)


def test_versions_and_resolution_rules(registry, tmp_path):
    save_tiny(registry)
    save_tiny(registry, parent="tiny@v1")
    assert registry.versions("tiny") == [1, 2]
    assert registry.resolve("tiny") == registry.models_dir / "tiny" / "v2"
    assert registry.resolve("tiny@v1") == registry.models_dir / "tiny" / "v1"
    assert registry.load("tiny").metadata.parent == "tiny@v1"
    path = registry.models_dir / "tiny" / "v1"
    assert registry.resolve(str(path)) == path
    assert registry.load(str(path)).metadata.version == 1
    with pytest.raises(FileNotFoundError, match="does not exist"):
        registry.resolve(str(tmp_path / "nowhere"))
    with pytest.raises(UnknownNameError, match="Did you mean 'tiny'.*Known models: tiny"):
        registry.resolve("tinny")
    with pytest.raises(UnknownNameError, match="v1, v2"):
        registry.resolve("tiny@v7")
    with pytest.raises(ValueError, match="write NAME@v2"):
        registry.resolve("tiny@latest")
    with pytest.raises(ValueError, match="empty"):
        registry.resolve(" ")
    with pytest.raises(ValueError, match="invalid"):
        check_name("bad name!")
    assert registry.list_models() == {"tiny": [1, 2]}


def test_read_only_roots_searched_after_home_and_numbering_continues(tmp_path):
    shipped = ModelRegistry(tmp_path / "ship_home", read_only_roots=[])
    save_tiny(shipped, "umaze")
    save_tiny(shipped, "umaze")
    ro_root = shipped.models_dir
    reg = ModelRegistry(tmp_path / "home", read_only_roots=[ro_root])
    assert reg.resolve("umaze") == ro_root / "umaze" / "v2"
    assert reg.resolve("umaze@v1") == ro_root / "umaze" / "v1"
    _, evolved = save_tiny(reg, "umaze", parent="umaze@v2")
    assert evolved.path == reg.models_dir / "umaze" / "v3"  # never shadows a shipped version
    assert reg.resolve("umaze") == evolved.path
    assert reg.resolve("umaze@v2") == ro_root / "umaze" / "v2"
    assert reg.list_models() == {"umaze": [1, 2, 3]}


def test_failed_save_leaves_no_version(registry):
    save_tiny(registry)
    with pytest.raises(FileNotFoundError):
        registry.save("tiny", CheckpointMetadata(kind="x"), config={}, extra_files={"a.zip": "/no/such"})
    with pytest.raises(TypeError):
        registry.save("tiny", CheckpointMetadata(kind="x"), config={"bad": object()})
    with pytest.raises(ValueError, match="plain file name"):
        registry.save("tiny", CheckpointMetadata(kind="x"), extra_files={"../evil": b"x"})
    assert registry.versions("tiny") == [1]
    assert sorted(p.name for p in (registry.models_dir / "tiny").iterdir()) == ["v1"]


def test_extra_files_without_tensors(registry, tmp_path):
    src = tmp_path / "model.zip"
    src.write_bytes(b"PK\x03\x04 sb3")
    ckpt = registry.save("sac", CheckpointMetadata(kind="sb3"), extra_files={"model.zip": src, "notes.txt": b"hi"})
    assert ckpt.tensors == {} and (ckpt.path / "model.zip").read_bytes() == src.read_bytes()
    assert set(ckpt.metadata.files) == {"config.json", "model.zip", "notes.txt"}


def test_corrupt_and_mismatched_checkpoints_fail_clearly(registry):
    model, ckpt = save_tiny(registry)
    with pytest.raises(CheckpointError, match="'test-planner' model, not a 'code-planner'"):
        registry.load("tiny", kind="code-planner")
    (ckpt.path / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        registry.load("tiny")
    _, ckpt2 = save_tiny(registry)
    (ckpt2.path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        registry.load("tiny@v2")
    _, ckpt3 = save_tiny(registry)
    (ckpt3.path / "metadata.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        registry.load("tiny@v3")
    (ckpt3.path / "metadata.json").write_text(json.dumps({"kind": "x", "colour": 1}))
    with pytest.raises(CheckpointError, match="Unknown CheckpointMetadata key 'colour'"):
        registry.load("tiny@v3")
    (ckpt3.path / "metadata.json").write_text("[]")
    with pytest.raises(CheckpointError, match="'kind'"):
        registry.load("tiny@v3")
    # weights file broken but not covered by a checksum (hand-made checkpoint)
    _, ckpt4 = save_tiny(registry)
    meta = json.loads((ckpt4.path / "metadata.json").read_text())
    meta["files"] = {}
    (ckpt4.path / "metadata.json").write_text(json.dumps(meta))
    (ckpt4.path / "weights.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        registry.load("tiny@v4")


def test_shape_mismatch_names_the_entries(registry):
    _, ckpt = save_tiny(registry)
    bigger = TemporalUNet(UNetConfig(transition_dim=3, horizon=8, dim=8, dim_mults=(1, 2)))
    with pytest.raises(CheckpointError, match=r"shape mismatch downs.0.0.block1.block.0.weight"):
        load_weights(bigger, ckpt.tensors, "tiny@v1")
    deeper = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2, 4)))
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(deeper, ckpt.tensors)
    shallow = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1,)))
    with pytest.raises(CheckpointError, match="unexpected"):
        load_weights(shallow, ckpt.tensors)


def test_concurrent_writer_taking_the_number_is_skipped(registry, monkeypatch):
    save_tiny(registry)
    real_versions = registry.versions
    calls = {"n": 0}

    def stale_versions(name):  # first lookup misses v2, which another writer creates meanwhile
        calls["n"] += 1
        if calls["n"] == 1:
            os.makedirs(registry.models_dir / name / "v2" / "x")
            return [1]
        return real_versions(name)

    monkeypatch.setattr(registry, "versions", stale_versions)
    ckpt = registry.save("tiny", CheckpointMetadata(kind="x"), config={})
    assert ckpt.metadata.version == 3


def test_several_networks_in_one_checkpoint(registry):
    den = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2)))
    val = ValueNet(ValueNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1,), hidden=8))
    registry.save(
        "pair", CheckpointMetadata(kind="test-planner"),
        tensors={**prefixed_state(den, "denoiser."), **prefixed_state(val, "value.")},
        config={"denoiser": model_spec(den), "value": model_spec(val)},
    )
    ckpt = registry.load("pair")
    den2 = load_model(ckpt.config["denoiser"], ckpt.tensors, "denoiser.")
    val2 = load_model(ckpt.config["value"], ckpt.tensors, "value.")
    x = torch.randn(2, 8, 2)
    assert torch.equal(den(x, 3), den2(x, 3)) and torch.equal(val(x, 3), val2(x, 3))
    with pytest.raises(CheckpointError, match="prefix 'value.'"):
        load_model(ckpt.config["denoiser"], ckpt.tensors, "value.")


def test_average_tensors_weighted_mean_and_mismatches():
    a = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor([3])}
    b = {"w": torch.tensor([2.0, 4.0]), "n": torch.tensor([3])}
    out = average_tensors([a, b])
    assert torch.equal(out["w"], torch.tensor([1.0, 3.0])) and out["w"].dtype == torch.float32
    assert torch.equal(out["n"], torch.tensor([3]))  # non-float: kept when equal
    assert torch.allclose(average_tensors([a, b], weights=[3, 1])["w"], torch.tensor([0.5, 2.5]))
    with pytest.raises(CheckpointError, match="other names"):
        average_tensors([a, {"w": b["w"]}])
    with pytest.raises(CheckpointError, match="not one network"):
        average_tensors([a, {"w": torch.zeros(3), "n": b["n"]}])
    with pytest.raises(CheckpointError, match="non-float"):
        average_tensors([a, {"w": b["w"], "n": torch.tensor([4])}])
    with pytest.raises(ValueError):
        average_tensors([a, b], weights=[1])


def test_save_average_registers_a_soup_that_loads(registry):
    m1, c1 = save_tiny(registry, "base-ft-a", parent="base@v1", normalizer={"mean": [0.0]})
    m2, c2 = save_tiny(registry, "base-ft-b", parent="base@v1", normalizer={"mean": [0.0]})
    soup = save_average(registry, "soup", [c1.spec, c2.spec], extra={"note": "x"})
    assert soup.spec == "soup@v1" and soup.metadata.parent == "base@v1"
    assert soup.metadata.extra["average"]["members"] == ["base-ft-a@v1", "base-ft-b@v1"]
    assert soup.metadata.extra["note"] == "x" and soup.metadata.normalizer == {"mean": [0.0]}
    key = next(iter(c1.tensors))
    assert torch.allclose(soup.tensors[key], (c1.tensors[key] + c2.tensors[key]) / 2)
    restored = TemporalUNet(UNetConfig(transition_dim=2, horizon=8, dim=8, dim_mults=(1, 2)))
    load_weights(restored, soup.tensors)
    _, c3 = save_tiny(registry, "other-norm", normalizer={"mean": [1.0]})
    with pytest.raises(CheckpointError, match="normalizer"):
        save_average(registry, "bad", [c1.spec, c3.spec])
