"""Shipped data files (checkpoint metadata, presets, dataset cards, maze catalog) carry no
paths of the machine that made them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("planners", "datasets", "envs")
TEXT = {".json", ".md", ".toml", ".txt", ".jsonl"}
MACHINE_PATH = re.compile(r"(?<![\w.~$-])/(?:work|home|tmp|root|Users|mnt|var/folders)/")


def _shipped_text_files() -> list[Path]:
    return sorted(p for top in SHIPPED for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in TEXT)


def test_the_catalog_is_there():
    names = {p.name for p in _shipped_text_files()}
    assert {"metadata.json", "config.json", "README.md"} <= names


@pytest.mark.parametrize("path", _shipped_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths(path):
    hits = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if MACHINE_PATH.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} holds absolute paths of a machine: {hits}"


def test_the_check_catches_one():
    assert MACHINE_PATH.search('"run_dir": "/work/runs/umaze-b"')
    assert MACHINE_PATH.search("/home/alice/.adiff/models")
    assert not MACHINE_PATH.search('"run_dir": "umaze-b"') and not MACHINE_PATH.search("~/.adiff/runs")


def test_every_shipped_version_has_its_row_and_consistent_metadata():
    """The catalog table names every shipped folder as "`NAME` vK", and each folder's metadata
    says the same name and version: a model copied in without its row, or under the wrong
    version, is caught here."""
    table = (ROOT / "planners" / "pretrained" / "README.md").read_text(encoding="utf-8")
    versions = sorted(p for p in (ROOT / "planners" / "pretrained").glob("*/v*") if p.is_dir())
    assert len(versions) >= 10
    missing, mislabelled = [], []
    for folder in versions:
        name, version = folder.parent.name, folder.name
        if not re.search(rf"\| `{re.escape(name)}` {version}[ |]", table):  # v1 must not match a v10 row
            missing.append(f"{name} {version}")
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        if meta.get("name") != name or f"v{meta.get('version')}" != version:
            mislabelled.append(f"{name}/{version}: metadata says {meta.get('name')} v{meta.get('version')}")
    assert not missing, f"planners/pretrained/README.md has no row for: {missing}"
    assert not mislabelled, f"metadata does not match its folder: {mislabelled}"
