"""``adiff bench fetch``: the suite's env variants and agent aliases, missing checkpoints, the
success-first table and its figures (fast), and one tiny real bench on MuJoCo Fetch (slow)."""

from __future__ import annotations

import csv

import pytest

from adiff_env.bench.report import goal_table, markdown_table, summarize, write_report
from adiff_env.bench.runner import BenchConfig, plan_cells
from adiff_env.bench.suites import resolve_agent_text, split_env_name, suite_envs, train_hint
from adiff_env.cli.main import main
from adiff_env.errors import ConfigError, MissingResourceError, UnknownNameError

PUSH, AVOID = "adiff/FetchPush-v0", "adiff/FetchPush-Avoid-v0"
PICK = "adiff/FetchPickAndPlace-v0"


def test_fetch_suite_envs_and_short_names():
    assert suite_envs("fetch") == [PUSH, f"{PICK}?goal_region=both", f"{PICK}?goal_region=table",
                                   f"{PICK}?goal_region=air", AVOID]
    assert suite_envs("fetch", ["pick-place-air", "push", "Avoid"]) == [f"{PICK}?goal_region=air", PUSH, AVOID]
    assert suite_envs("fetch", [f"{PICK}?goal_region=table"]) == [f"{PICK}?goal_region=table"]
    with pytest.raises(UnknownNameError, match="Unknown fetch env 'FetchPush'"):  # two ids contain it
        suite_envs("fetch", ["FetchPush"])


def test_env_names_carry_make_keywords():
    assert split_env_name(f"{PICK}?goal_region=air") == (PICK, {"goal_region": "air"})
    assert split_env_name(f"{AVOID}?zone_radius=0.08&zone_cost=2") == (AVOID, {"zone_radius": 0.08, "zone_cost": 2})
    assert split_env_name(PUSH) == (PUSH, {})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        split_env_name(f"{PUSH}?radius")
    with pytest.raises(ConfigError, match="twice"):
        split_env_name(f"{PUSH}?a=1&a=2")


def test_agent_aliases_resolve_per_task():
    both = f"{PICK}?goal_region=both"
    assert resolve_agent_text("fetch", "bc", PUSH) == "bc:bc-fetch-push"
    assert resolve_agent_text("fetch", "bc", AVOID) == "bc:bc-fetch-push"  # push models act on the avoid variant
    assert resolve_agent_text("fetch", "bc?seed=3", both) == "bc:bc-fetch-pick-place?seed=3"
    assert resolve_agent_text("fetch", "sac-her", PUSH) == "sb3:sac-her-fetch-push"
    assert resolve_agent_text("fetch", "planner:{task}?guide_scale=0.1", AVOID) == "planner:fetch-push?guide_scale=0.1"
    assert resolve_agent_text("fetch", "bc:mine", PUSH) == "bc:mine"  # explicit names are left alone
    assert resolve_agent_text("fetch", "expert", both) == "expert"
    with pytest.raises(ConfigError, match="names no task"):
        resolve_agent_text("maze", "planner:{task}", "adiff/PointMaze-UMaze-v0")
    hint = train_hint("fetch", "iql", both)
    assert hint.startswith("uv run adiff --threads 1 baselines train iql adiff/FetchPickAndPlace-v0 "
                           "--dataset adiff/fetch-pickandplace-v0")
    assert "--name iql-fetch-pick-place --set goal_radius=0.05" in hint
    assert '\'policy_kwargs={"net_arch":[256,256]}\'' in train_hint("fetch", "sac-her", PUSH)


def test_missing_checkpoints_fail_before_any_work_with_the_command_that_makes_them(tmp_path, capsys):
    cfg = BenchConfig("fetch", ("expert", "bc", "sac-her"), envs=("push", "pick-place-air"), out=tmp_path)
    with pytest.raises(MissingResourceError) as err:
        plan_cells(cfg)
    text = str(err.value)
    assert "4 agent checkpoint(s) missing" in text and "--skip-missing" in text
    assert "bc on adiff/FetchPush-v0 (bc:bc-fetch-push): Unknown model 'bc-fetch-push'" in text
    assert "baselines train bc adiff/FetchPush-v0 --dataset adiff/fetch-push-v0" in text
    assert "baselines train sb3-sac-her adiff/FetchPickAndPlace-v0 --steps 80000 --name sac-her-fetch-pick-place" in text
    cells, skipped = plan_cells(BenchConfig("fetch", ("expert", "bc"), envs=("push", "pick-place-air"), out=tmp_path,
                                            skip_missing=True))
    assert [(a.label, a.spec, e) for a, e in cells] == [("expert", "expert", PUSH), ("expert", "expert", f"{PICK}?goal_region=air")]
    assert len(skipped) == 2
    assert main(["bench", "fetch", "--envs", "push", "--out", str(tmp_path), "--quiet"]) == 2  # default agents need models
    err_text = capsys.readouterr().err
    assert "iql on adiff/FetchPush-v0 (iql:iql-fetch-push)" in err_text and "baselines train iql" in err_text
    assert not (tmp_path / "results.csv").exists()


def _cell(agent, env, seed, success, ever, zone=None):
    row = {"agent": agent, "env": env, "seed": str(seed), "episodes": "10", "normalized_score_x100_mean": str(100 * success),
           "success_rate": str(success), "ever_success_rate": str(ever), "return_mean": str(-50 + 30 * success),
           "steps_per_s": "500", "wall_s": "2"}
    if zone is not None:
        row.update(zone_steps_mean=str(zone), zone_episodes=str(min(1.0, 4 * zone)))
    return row


def test_goal_table_rows_and_figures(tmp_path):
    rows = [_cell("expert", PUSH, 0, 1.0, 1.0), _cell("expert", PUSH, 1, 0.9, 1.0),
            _cell("random", AVOID, 0, 0.1, 0.2, zone=0.05), _cell("random", AVOID, 1, 0.1, 0.2, zone=0.15)]
    summary = summarize(rows)
    table = markdown_table(summary)
    assert table == goal_table(summary)
    assert table.splitlines()[0] == ("| agent | env | success (last step) | ever succeeded | score ×100 | return | zone steps | "
                                     "zone episodes | actions/s | episodes/s | plans/s | plan ms | seeds × episodes |")
    assert "| expert | adiff/FetchPush-v0 | 95% | 100% | 95.0 ± 7.1 | -21.5 | – | – | 500 | 5.00 | – | – | 2 × 10 |" in table
    assert "| random | adiff/FetchPush-Avoid-v0 | 10% | 20% | 10.0 ± 0.0 | -47.0 | 10.00% | 40% | 500 | 5.00 |" in table
    written = write_report(rows, tmp_path)
    assert set(written) == {"table", "scores", "success", "zone"}
    assert all(written[k].stat().st_size > 1000 for k in ("success", "zone"))
    maze = [dict(_cell("expert", "adiff/PointMaze-UMaze-v0", 0, 1.0, 1.0), ever_success_rate="")]
    assert "ever" not in markdown_table(summarize(maze))  # the maze table is unchanged
    assert "zone" not in write_report(rows[:2], tmp_path / "nozone")


@pytest.mark.slow
def test_tiny_real_fetch_bench(tmp_path, capsys):
    assert main(["bench", "fetch", "--agents", "expert,random", "--envs", "push,push-avoid", "--episodes", "2",
                 "--seeds", "1", "--vector", "2", "--vector-mode", "sync", "--out", str(tmp_path), "--quiet"]) == 0
    with open(tmp_path / "results.csv", newline="") as fh:
        rows = {(r["agent"], r["env"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {(a, e) for a in ("expert", "random") for e in (PUSH, AVOID)}
    for row in rows.values():
        assert float(row["ever_success_rate"]) >= float(row["success_rate"])
        assert row["normalized_score_x100_mean"] != ""  # references exist for both variants
    assert rows[("expert", PUSH)]["ever_success_rate"] == "1.0"
    assert float(rows[("expert", PUSH)]["return_mean"]) > float(rows[("random", PUSH)]["return_mean"])
    assert rows[("expert", AVOID)]["zone_steps_mean"] != "" and rows[("expert", PUSH)]["zone_steps_mean"] == ""
    table = (tmp_path / "table.md").read_text()
    assert "| expert | adiff/FetchPush-Avoid-v0 |" in table and "zone steps" in table
    assert (tmp_path / "success.png").stat().st_size > 1000 and (tmp_path / "zone.png").stat().st_size > 1000
    assert "success.png, zone.png" in capsys.readouterr().out


def test_report_only_rebuilds_the_report_from_results_csv(tmp_path, capsys):
    from adiff_env.bench.cells import write_results

    assert main(["bench", "fetch", "--agents", "expert", "--report-only", "--out", str(tmp_path)]) == 2
    assert "run the bench first" in capsys.readouterr().err
    write_results(tmp_path / "results.csv", [_cell("random", AVOID, 0, 0.1, 0.2, zone=0.1), _cell("expert", PUSH, 0, 1.0, 1.0)])
    assert main(["bench", "fetch", "--agents", "expert,random", "--report-only", "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| expert", "| random"]  # --agents order, nothing re-run
    assert (tmp_path / "zone.png").is_file()


def test_merge_joins_other_runs_cells_and_keeps_out_rows(tmp_path, capsys):
    """``--merge CSV`` adds the cells OUT lacks (each row keeps its commit); a cell OUT has keeps
    OUT's row; with ``--report-only`` the table shows every run's agents; a missing file is named."""
    from adiff_env.bench.cells import merge_results, read_results, write_results

    out, a, b = tmp_path / "out", tmp_path / "a.csv", tmp_path / "b.csv"
    write_results(out / "results.csv", [{**_cell("planner", PUSH, 0, 0.9, 0.95), "git_commit": "new"}])
    write_results(a, [{**_cell("planner", PUSH, 0, 0.1, 0.1), "git_commit": "old"},
                      {**_cell("bc", PUSH, 0, 0.7, 0.7), "git_commit": "old"}])
    write_results(b, [{**_cell("bc", PUSH, 0, 0.2, 0.2), "git_commit": "older"},
                      {**_cell("bc", PUSH, 1, 0.8, 0.8), "git_commit": "older"}])
    assert main(["bench", "fetch", "--agents", "bc,planner", "--report-only", "--out", str(out),
                 "--merge", str(a), "--merge", str(b)]) == 0
    rows = {(r["agent"], int(r["seed"])): r for r in read_results(out / "results.csv")}
    assert set(rows) == {("planner", 0), ("bc", 0), ("bc", 1)}
    assert rows[("planner", 0)]["success_rate"] == "0.9" and rows[("planner", 0)]["git_commit"] == "new"
    assert rows[("bc", 0)]["success_rate"] == "0.7" and rows[("bc", 0)]["git_commit"] == "old"  # the first source wins
    assert rows[("bc", 1)]["git_commit"] == "older"
    lines = (out / "table.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| bc", "| planner"]
    assert "| bc | adiff/FetchPush-v0 | 75% |" in lines[2]  # (0.7 + 0.8) / 2 over the two merged seeds
    assert len(merge_results(out / "results.csv", [a, b])) == 3  # merging again adds nothing
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        merge_results(out / "results.csv", [tmp_path / "nope.csv"])
