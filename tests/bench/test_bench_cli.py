"""``adiff bench`` end to end on the real U-Maze: CSV rows, table, plots, resume, errors."""

from __future__ import annotations

import csv

import pytest

from adiff_env.bench import runner
from adiff_env.bench.report import markdown_table, summarize, write_report
from adiff_env.bench.runner import BenchConfig, suite_envs
from adiff_env.bench.specs import parse_bench_agent, split_agents
from adiff_env.cli.main import main
from adiff_env.errors import UnknownNameError

UMAZE = "adiff/PointMaze-UMaze-v0"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _bench(out, *extra):
    return main(["bench", "maze", "--agents", "random,expert", "--episodes", "2", "--seeds", "2", "--envs", "UMaze",
                 "--vector", "2", "--out", str(out), "--quiet", *extra])


def test_bench_writes_csv_table_and_plot_and_resumes(tmp_path, capsys, monkeypatch):
    assert _bench(tmp_path, "--vector-mode", "sync") == 0
    rows = _rows(tmp_path / "results.csv")
    assert [(r["agent"], r["env"], r["seed"], r["episodes"], r["reset_seed_start"]) for r in rows] == [
        ("random", UMAZE, "0", "2", "0"), ("random", UMAZE, "1", "2", "10000"),
        ("expert", UMAZE, "0", "2", "0"), ("expert", UMAZE, "1", "2", "10000"),
    ]
    from adiff_env._provenance import git_commit

    assert {r["git_commit"] for r in rows} == {git_commit() or ""}  # each cell records the code that ran it
    expert = [r for r in rows if r["agent"] == "expert"]
    assert all(float(r["success_rate"]) == 1.0 and float(r["normalized_score_x100_mean"]) > 50 for r in expert)
    table = (tmp_path / "table.md").read_text()
    assert "| random | adiff/PointMaze-UMaze-v0 |" in table and "| expert |" in table and "2 × 2" in table
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "score_vs_time.png").exists()  # no planner among the agents
    assert "| expert |" in capsys.readouterr().out

    calls = []
    real = runner.evaluate_vector
    monkeypatch.setattr(runner, "evaluate_vector", lambda *a, **k: calls.append(a[:2]) or real(*a, **k))
    assert _bench(tmp_path) == 0  # everything done: nothing runs, rows unchanged
    assert calls == [] and _rows(tmp_path / "results.csv") == rows
    assert main(["bench", "maze", "--agents", "expert", "--episodes", "2", "--seeds", "3", "--envs", "UMaze",
                 "--vector", "2", "--out", str(tmp_path), "--quiet"]) == 0
    assert calls == [(UMAZE, "expert")]  # only the new seed 2
    assert len(_rows(tmp_path / "results.csv")) == 5
    assert _bench(tmp_path, "--force") == 0
    assert len(calls) == 5 and len(_rows(tmp_path / "results.csv")) == 5  # re-run cells replace their rows


def test_unknown_agent_kind_lists_the_known_kinds(tmp_path, capsys):
    assert main(["bench", "maze", "--agents", "random,plannr:x", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Unknown agent kind 'plannr'" in err and "Did you mean 'planner'?" in err
    for kind in ("bc", "cql", "expert", "iql", "planner", "random", "sb3"):
        assert kind in err.split("Known agent kinds:")[1]
    assert not (tmp_path / "results.csv").exists()  # nothing ran


def test_bench_argument_errors(tmp_path, capsys):
    assert main(["bench", "mazes", "--agents", "random", "--out", str(tmp_path)]) == 2
    assert "Known bench suites: fetch, goldcoin, maze" in capsys.readouterr().err
    assert main(["bench", "maze", "--agents", "random,,expert", "--out", str(tmp_path)]) == 2
    assert "without empty entries" in capsys.readouterr().err
    assert main(["bench", "maze", "--agents", "random,random", "--out", str(tmp_path)]) == 2
    assert "distinct" in capsys.readouterr().err
    with pytest.raises(UnknownNameError, match="Known maze envs: adiff/PointMaze-Large-v0"):
        suite_envs("maze", ["Huge"])
    with pytest.raises(ValueError, match="episodes must be an integer >= 1"):
        BenchConfig("maze", ("random",), episodes=0)


def test_agent_spec_options():
    a = parse_bench_agent("planner:pointmaze-umaze@v1?sampler=ddim&steps=5&eta=0.5&n_samples=2")
    assert a.spec == "planner:pointmaze-umaze@v1" and a.label.endswith("n_samples=2")
    assert a.options == {"sampler": "ddim", "steps": 5, "eta": 0.5, "n_samples": 2}  # typed by ActConfig's fields
    with pytest.raises(UnknownNameError, match="Unknown planner option 'fast'"):  # checked, loads nothing
        parse_bench_agent("planner:pointmaze-umaze@v1?fast=true")
    assert parse_bench_agent(" expert:0.3 ").options == {}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_bench_agent("planner:x?steps")
    with pytest.raises(ValueError, match="given twice"):
        parse_bench_agent("planner:x?steps=1&steps=2")
    assert split_agents("random, planner:a?steps=5&sampler=ddim ,expert") == ["random", "planner:a?steps=5&sampler=ddim", "expert"]
    assert suite_envs("maze", ["Medium", UMAZE]) == ["adiff/PointMaze-Medium-v0", UMAZE]


def test_report_aggregates_seeds_and_plots_score_vs_time(tmp_path):
    rows = []
    for steps, ms, score in ((2, 5.0, 40.0), (8, 20.0, 80.0)):
        for seed, delta in ((0, -10.0), (1, 10.0)):
            rows.append({"agent": f"planner:p?steps={steps}", "env": UMAZE, "seed": str(seed), "episodes": "4",
                         "normalized_score_x100_mean": str(score + delta), "success_rate": "0.5", "steps_per_s": "100",
                         "plan_ms_median": str(ms), "plans": "10", "wall_s": "2", "sampler_steps": str(steps)})
    summary = summarize(rows)
    assert [(s["agent"], s["score_mean"], s["score_std"], s["plans_per_s"]) for s in summary] == [
        ("planner:p?steps=2", 40.0, pytest.approx(200 ** 0.5), 5.0), ("planner:p?steps=8", 80.0, pytest.approx(200 ** 0.5), 5.0)]
    written = write_report(rows, tmp_path)
    assert set(written) == {"table", "scores", "score_vs_time"}
    assert "| planner:p?steps=8 | adiff/PointMaze-UMaze-v0 | 80.0 ± 14.1 | 50% | 100 | 5.0 | 20.0 | 2 × 4 |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "score_vs_time.png").stat().st_size > 1000


def test_table_has_a_coins_column_only_for_gold_coin_cells():
    base = {"env": "adiff/PointMaze-Medium-GoldCoin-v0", "seed": "0", "episodes": "10", "normalized_score_x100_mean": "50",
            "success_rate": "1.0", "steps_per_s": "10", "wall_s": "1"}
    rows = [dict(base, agent="expert", coins_mean="1.5"), dict(base, agent="expert", seed="1", coins_mean="2.5"),
            dict(base, agent="random", coins_mean="0")]
    table = markdown_table(summarize(rows))
    assert "| success | coins |" in table
    assert "| expert | adiff/PointMaze-Medium-GoldCoin-v0 | 50.0 ± 0.0 | 100% | 2.00 |" in table
    assert "| random | adiff/PointMaze-Medium-GoldCoin-v0 | 50.0 ± 0.0 | 100% | 0.00 |" in table
    assert "coins" not in markdown_table(summarize([dict(base, agent="expert")]))
    assert suite_envs("goldcoin") == ["adiff/PointMaze-Medium-GoldCoin-v0", "adiff/PointMaze-Large-GoldCoin-v0"]
