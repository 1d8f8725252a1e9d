"""One git_commit() for every run record, and it records this checkout's commit only."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from adiff_env import _provenance
from adiff_env._provenance import git_commit, package_versions, write_run_record

ROOT = Path(__file__).resolve().parents[1]


def test_one_git_commit_everywhere():
    from adiff_env import registry
    from adiff_env.bench import cells
    from adiff_env.datasets import _provenance as datasets_provenance

    assert registry.git_commit is git_commit and datasets_provenance.git_commit is git_commit
    assert cells.git_commit is git_commit  # the bench rows


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_git_commit_is_this_checkouts_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    head = head.stdout.strip()
    commit = git_commit()
    assert commit is not None and commit.removesuffix("-dirty") == head


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_no_commit_of_a_foreign_repository(tmp_path, monkeypatch):
    # a package folder inside some other repository (a wheel in a venv under a user's project)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    site = tmp_path / "venv" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(_provenance, "_CHECKOUT", site)
    _provenance._head.cache_clear()
    try:
        assert git_commit() is None
    finally:
        _provenance._head.cache_clear()


def test_run_record_is_written_whole_with_a_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(_provenance, "git_commit", lambda: "abc123")
    path = write_run_record(tmp_path / "run" / "run.json", {"seed": 3, "config": {"steps": 5}})
    assert json.loads(path.read_text()) == {"git_commit": "abc123", "seed": 3, "config": {"steps": 5}}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left
    write_run_record(path, {"git_commit": "given", "seed": 4})
    assert json.loads(path.read_text()) == {"git_commit": "given", "seed": 4}


def test_package_versions_pins_installed_packages_only():
    pins = package_versions(("gymnasium", "no-such-package-xyz"))
    assert len(pins) == 1 and pins[0].startswith("gymnasium==")
