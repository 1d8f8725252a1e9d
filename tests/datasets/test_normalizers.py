from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adiff_env.datasets.normalizers import (
    GaussianNormalizer,
    MinMaxNormalizer,
    fit_normalizer,
    load_normalizer,
    normalizer_from_dict,
    save_normalizer,
)
from adiff_env.errors import UnknownNameError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 1.0]
    x[:, 3] = 2.5  # a constant dimension
    return x


def test_minmax_maps_fitted_range_to_unit_interval(data):
    norm = MinMaxNormalizer.fit(data)
    y = norm.normalize(data)
    np.testing.assert_allclose(y[:, :3].min(axis=0), -1.0, atol=1e-12)
    np.testing.assert_allclose(y[:, :3].max(axis=0), 1.0, atol=1e-12)
    np.testing.assert_array_equal(y[:, 3], -1.0)  # constant dim: scale 1, no division by zero
    np.testing.assert_allclose(norm.unnormalize(y), data, atol=1e-12)


def test_gaussian_is_zscore(data):
    norm = GaussianNormalizer.fit(data)
    y = norm.normalize(data)
    np.testing.assert_allclose(y[:, :3].mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(y[:, :3].std(axis=0), 1.0, atol=1e-10)
    np.testing.assert_array_equal(y[:, 3], 0.0)
    np.testing.assert_allclose(norm.unnormalize(y), data, atol=1e-12)


@pytest.mark.parametrize("kind", ["minmax", "gaussian"])
def test_round_trip_torch_keeps_dtype_and_shape(kind, data):
    norm = fit_normalizer(kind, data)
    x = torch.tensor(data, dtype=torch.float32).reshape(5, 100, 4)  # any leading shape
    y = norm.normalize(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == x.shape
    torch.testing.assert_close(norm.unnormalize(y), x, rtol=1e-5, atol=1e-5)
    # numpy float32 keeps float32
    assert norm.normalize(data.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("kind", ["minmax", "gaussian"])
def test_json_save_load_round_trip(kind, data, tmp_path):
    norm = fit_normalizer(kind, data)
    path = save_normalizer(norm, tmp_path / "sub" / "normalizer.json")
    payload = json.loads(path.read_text())
    assert payload["kind"] == kind and payload["format_version"] == 1
    loaded = load_normalizer(path)
    assert type(loaded) is type(norm)
    np.testing.assert_array_equal(loaded.normalize(data), norm.normalize(data))
    assert [p.name for p in path.parent.iterdir()] == ["normalizer.json"]  # no temp file left


def test_bad_inputs(data, tmp_path):
    with pytest.raises(UnknownNameError, match="minmax"):
        fit_normalizer("minmaxx", data)
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        MinMaxNormalizer.fit(data[0])
    with pytest.raises(ValueError, match="NaN"):
        GaussianNormalizer.fit(np.array([[1.0], [np.nan]]))
    norm = MinMaxNormalizer.fit(data)
    with pytest.raises(ValueError, match="fitted on 4 dimensions"):
        norm.normalize(np.zeros((3, 5)))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        norm.normalize([[0.0] * 4])
    with pytest.raises(FileNotFoundError):
        load_normalizer(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_normalizer(bad)
    bad.write_text(json.dumps({"format_version": 99, "kind": "minmax", "low": [0], "high": [1]}))
    with pytest.raises(ValueError, match="format_version 99"):
        load_normalizer(bad)
    with pytest.raises(UnknownNameError):
        normalizer_from_dict({"kind": "robust", "low": [0], "high": [1]})
    with pytest.raises(ValueError, match="lacks 'high'"):
        normalizer_from_dict({"kind": "minmax", "low": [0]})
    with pytest.raises(ValueError, match="differ in length"):
        normalizer_from_dict({"kind": "gaussian", "mean": [0, 1], "std": [1]})
    with pytest.raises(ValueError, match="finite"):
        normalizer_from_dict({"kind": "gaussian", "mean": [float("nan")], "std": [1]})
    with pytest.raises(ValueError, match="'kind'"):
        normalizer_from_dict({"low": [0]})
