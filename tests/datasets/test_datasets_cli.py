"""``adiff datasets`` through adiff_env.cli.main.main([...]) (same code path as the console script)."""

from __future__ import annotations

import json

import minari
import pytest

from adiff_env.cli.main import main


def test_collect_list_show(capsys):
    rc = main(["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "3000", "--noise", "0.2",
               "--seed", "5", "--dataset-id", "adiff/cli-umaze-v0", "--episode-steps", "1500",
               "--workers", "1", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote adiff/cli-umaze-v0: 3,000 steps in 2 episodes" in out
    ds = minari.load_dataset("adiff/cli-umaze-v0")
    assert ds.total_steps == 3000 and ds.storage.metadata["adiff_recipe"]["noise_std"] == 0.2

    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "adiff/cli-umaze-v0" in out and "3,000" in out and "adiff/PointMaze-UMaze-v0" in out

    assert main(["datasets", "show", "adiff/cli-umaze-v0"]) == 0
    out = capsys.readouterr().out
    assert "noise std          0.2" in out and "seed               5" in out

    assert main(["datasets", "show", "adiff/cli-umaze-v0", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["total_steps"] == 3000 and meta["adiff_recipe"]["seed"] == 5


def test_collect_from_recipe_with_overrides(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text('env = "adiff/PointMaze-UMaze-v0"\nsteps = 1_000_000\nnoise = 0.1\n'
                      'dataset_id = "adiff/recipe-v0"\nepisode_steps = 400\n')
    rc = main(["datasets", "collect", "--recipe", str(recipe), "--steps", "800", "--json", "--no-progress"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset_id"] == "adiff/recipe-v0" and result["total_steps"] == 800
    assert result["total_episodes"] == 2 and result["steps_per_s"] > 0
    meta = minari.load_dataset("adiff/recipe-v0").storage.metadata["adiff_recipe"]
    assert meta["noise_std"] == 0.1 and meta["episode_steps"] == 400


def test_shipped_recipes_parse():
    from adiff_env.datasets.recipes import load_recipe, shipped_recipes

    recipes = {k: v for k, v in shipped_recipes().items() if k.startswith("pointmaze-")}  # Fetch: tests/manipulation
    assert set(recipes) == {"pointmaze-umaze", "pointmaze-medium", "pointmaze-large"}
    assert [recipes[n].steps for n in ("pointmaze-umaze", "pointmaze-medium", "pointmaze-large")] == [
        1_000_000, 2_000_000, 4_000_000]
    assert recipes["pointmaze-umaze"].resolved_dataset_id == "adiff/pointmaze-umaze-v0"
    assert load_recipe("pointmaze-medium") == recipes["pointmaze-medium"]  # by shipped name
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)

    for recipe in recipes.values():
        assert recipe.env in gym.registry and recipe.noise == 0.5


def _err(capsys, argv, code=2):
    assert main(argv) == code
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["datasets", "collect"], "give ENV_ID with --steps N, or --recipe FILE"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0"], "--steps N is required"),
        (["datasets", "collect", "adiff/PointMaze-UMaz-v0", "--steps", "10"],
         "Did you mean 'adiff/PointMaze-UMaze-v0'"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--recipe", "pointmaze-umaze"], "not both"),
        (["datasets", "collect", "--recipe", "no-such-recipe"], "pointmaze-large, pointmaze-medium"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "10", "--dataset-id", "x y-v0"],
         "Malformed dataset ID"),
        (["datasets", "show", "adiff/nothing-v0"], "Unknown dataset id 'adiff/nothing-v0'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, argv, message):
    err = _err(capsys, argv)
    assert message in err and err.startswith("adiff datasets: error:")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "0"], "expected a positive integer"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "ten"], "expected a positive integer"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "9", "--noise", "-1"], "number >= 0"),
        (["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "9", "--noise", "inf"], "finite"),
        (["datasets", "frobnicate"], "invalid choice"),
    ],
)
def test_argparse_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_recipe_files(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('env = "adiff/PointMaze-UMaze-v0"\nstep = 10\n')
    assert "Unknown DatasetRecipe key 'step'. Did you mean 'steps'?" in _err(capsys, ["datasets", "collect", "--recipe", str(bad)])
    bad.write_text('env = "adiff/PointMaze-UMaze-v0"\nsteps = -5\n')
    assert "'steps' must be a positive integer" in _err(capsys, ["datasets", "collect", "--recipe", str(bad)])
    bad.write_text('env = "adiff/PointMaze-UMaze-v0"\n')
    assert "missing required key(s) ['steps']" in _err(capsys, ["datasets", "collect", "--recipe", str(bad)])
    bad.write_text('env = "adiff/PointMaze-UMaze-v0"\nsteps = 10\nexpert = "genius"\n')
    assert "'expert' must be one of" in _err(capsys, ["datasets", "collect", "--recipe", str(bad)])
    bad.write_text("env = [unclosed")
    assert "not valid TOML" in _err(capsys, ["datasets", "collect", "--recipe", str(bad)])


def test_existing_dataset_needs_overwrite(capsys):
    argv = ["datasets", "collect", "adiff/PointMaze-UMaze-v0", "--steps", "200", "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert "--overwrite" in _err(capsys, argv)
    assert main([*argv, "--overwrite", "--backend", "collector"]) == 0
    assert "backend collector" in capsys.readouterr().out


def test_list_when_empty(capsys):
    assert main(["datasets", "list"]) == 0
    assert "no local datasets" in capsys.readouterr().out
