"""The ``adiff`` command as a whole: its tree, a light ``--help``, the error rule, one agent
syntax whose options are checked before any checkpoint, and the checks long commands run first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adiff_env.cli.main import build_parser, main

HEAVY = ("torch", "mujoco", "docker", "minari")


def test_help_and_parser_build_import_no_torch():
    code = (
        "import sys\n"
        "from adiff_env.cli.main import build_parser, main\n"
        "build_parser()\n"
        "for argv in (['--help'], ['maze', '--help'], ['maze', 'train', '--help'], ['code', 'train', '--help'],\n"
        "             ['datasets', 'collect', '--help'], ['agents', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (argv, exc.code)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]


def test_the_command_tree_is_noun_first():
    parser = build_parser()
    groups = {a.dest: a for a in parser._subparsers._group_actions}["command"].choices
    assert set(groups) == {"demo", "evaluate", "bench", "maze", "planner", "code", "chunk", "models", "agents", "envs", "datasets",
                           "baselines", "sandbox", "serve", "keys"}

    def subs(name):
        return set(next(a for a in groups[name]._actions if a.__class__.__name__ == "_SubParsersAction").choices)

    assert subs("maze") == {"train", "evolve", "distill"} and subs("chunk") == {"train"} and subs("planner") == {"train", "evolve", "workspace"}
    assert subs("code") == {"corpus", "train", "passk", "evolve", "tasks"}
    assert subs("models") == {"list", "show"} and subs("agents") == {"list"} and subs("envs") == {"list"}
    assert subs("datasets") == {"collect", "list", "show"} and subs("baselines") == {"train"}


@pytest.mark.parametrize(("old", "new"), [("train", "maze train"), ("evolve", "maze evolve"),
                                          ("tasks", "code tasks"), ("baseline", "baselines")])
def test_old_spellings_say_the_new_one(capsys, old, new):
    assert main([old, "whatever"]) == 2
    assert f"'{old}' is now 'adiff {new}'" in capsys.readouterr().err


def test_maze_evolve_is_mounted(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["maze", "evolve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: adiff maze evolve" in out and "--from" in out


def test_a_programming_error_keeps_its_traceback(monkeypatch):
    import adiff_env.evaluation

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(adiff_env.evaluation, "run_episodes", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["evaluate", "Pendulum-v1", "--agent", "random", "--episodes", "1"])


def test_a_programming_error_prints_a_traceback_from_the_console_script(tmp_path):
    code = ("import adiff_env.evaluation as e\n"
            "def broken(*a, **k):\n    raise KeyError('internal')\n"
            "e.run_episodes = broken\n"
            "from adiff_env.cli.main import main\n"
            "main(['evaluate', 'Pendulum-v1', '--agent', 'random', '--episodes', '1'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 1 and "Traceback (most recent call last)" in out.stderr and "KeyError: 'internal'" in out.stderr


@pytest.fixture
def no_checkpoint_reads(monkeypatch):
    from adiff_env.registry import ModelRegistry

    calls = []
    monkeypatch.setattr(ModelRegistry, "load", lambda self, *a, **k: calls.append(a) or pytest.fail("checkpoint read"))
    monkeypatch.setattr(ModelRegistry, "resolve", lambda self, *a, **k: calls.append(a) or pytest.fail("checkpoint read"))
    return calls


@pytest.mark.parametrize(("argv", "message"), [
    (["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "planner:pointmaze-umaze?replan_evry=4"],
     "Unknown planner option 'replan_evry'. Did you mean 'replan_every'?"),
    (["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "planner:pointmaze-umaze", "--agent-option", "kp=fast"],
     "planner option 'kp' must be float, got 'fast'"),
    (["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "planner:pointmaze-umaze?action=teleport"],
     "Unknown action rule 'teleport'"),
    (["evaluate", "adiff/CodeTests-v0", "--agent", "coder:default?smaples=2"],
     "Unknown coder option 'smaples'. Did you mean 'samples'?"),
    (["bench", "maze", "--agents", "random,planner:pointmaze-umaze?steps=x"], "planner option 'steps' must be int"),
    (["demo", "--agent", "planner:pointmaze-umaze?subgoal_cells=-1"], "subgoal_cells must be >= 0"),
    (["code", "passk", "--agent", "coder:default?temperature=hot", "--sandbox", "process"],
     "coder option 'temperature' must be float"),
])
def test_agent_options_fail_before_any_checkpoint_is_read(capsys, no_checkpoint_reads, tmp_path, argv, message):
    assert main([*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "bench" else [])]) == 2
    assert message in capsys.readouterr().err
    assert no_checkpoint_reads == []


def test_one_agent_syntax_everywhere():
    from adiff_env.agents import check_agent, parse_agent
    from adiff_env.bench.specs import parse_bench_agent
    from adiff_env.errors import ConfigError

    spec = check_agent("planner:pointmaze-umaze@v2?sampler=ddpm&steps=0&kp=5")
    assert (spec.kind, spec.arg, spec.base) == ("planner", "pointmaze-umaze@v2", "planner:pointmaze-umaze@v2")
    assert spec.options == {"sampler": "ddpm", "steps": 0, "kp": 5.0}
    bench = parse_bench_agent("expert:0.3?seed=4")
    assert (bench.spec, bench.options) == ("expert:0.3", {"seed": 4})
    with pytest.raises(ConfigError, match="given twice"):
        parse_agent("random?x=1&x=2")
    with pytest.raises(ConfigError, match="both in"):
        check_agent("planner:a?steps=1", {"steps": "2"})


TINY_PRESET = """
name = "tiny-cli"
env = "adiff/PointMaze-UMaze-v0"
dataset = "adiff/tiny-cli-v0"
[data]
horizon = 16
[model]
arch = "temporal_unet"
dim = 8
dim_mults = [1, 2]
[diffusion]
n_timesteps = 8
[train]
steps = 2
batch_size = 4
eval_every = 0
checkpoint_every = 2
inverse_dynamics_hidden = 0
"""
TINY_RECIPE = ('dataset_id = "adiff/tiny-cli-v0"\nenv = "adiff/PointMaze-UMaze-v0"\nsteps = 400\n'
               'episode_steps = 200\n')


def test_maze_train_no_collect_fails_before_work_with_the_command(capsys, monkeypatch, tmp_path):
    import adiff_env.planners.train as train_module

    monkeypatch.setattr(train_module, "train_planner", lambda *a, **k: pytest.fail("training started"))
    preset = tmp_path / "p.toml"
    preset.write_text(TINY_PRESET.replace("adiff/tiny-cli-v0", "adiff/pointmaze-umaze-v0"))
    assert main(["maze", "train", "adiff/PointMaze-UMaze-v0", "--preset", str(preset), "--no-collect"]) == 2
    err = capsys.readouterr().err
    assert "Dataset 'adiff/pointmaze-umaze-v0' is not in" in err
    assert "`uv run adiff datasets collect --recipe pointmaze-umaze`" in err
    preset.write_text(TINY_PRESET)  # no shipped recipe makes adiff/tiny-cli-v0
    assert main(["maze", "train", "adiff/PointMaze-UMaze-v0", "--preset", str(preset)]) == 2
    assert "no shipped recipe" in capsys.readouterr().err
    preset.write_text(TINY_PRESET.replace("steps = 2", "stepz = 2"))  # the preset is checked first
    assert main(["maze", "train", "adiff/PointMaze-UMaze-v0", "--preset", str(preset)]) == 2
    assert "Unknown TrainConfig key 'stepz'. Did you mean 'steps'?" in capsys.readouterr().err
    assert main(["maze", "train", "adiff/PointMaze-UMaz-v0", "--preset", str(preset)]) == 2


@pytest.mark.slow
def test_maze_train_collects_a_missing_dataset_then_trains(capsys, tmp_path):
    import minari

    preset, recipe = tmp_path / "p.toml", tmp_path / "r.toml"
    preset.write_text(TINY_PRESET)
    recipe.write_text(TINY_RECIPE)
    assert "adiff/tiny-cli-v0" not in minari.list_local_datasets()
    assert main(["maze", "train", "adiff/PointMaze-UMaze-v0", "--preset", str(preset), "--recipe", str(recipe),
                 "--steps", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "collecting it now from recipe" in out and "registered tiny-cli@v1" in out and "(1 steps" in out
    assert minari.load_dataset("adiff/tiny-cli-v0").total_steps == 400


def test_ensure_dataset_present_is_a_no_op(monkeypatch):
    from adiff_env.datasets import recipes

    monkeypatch.setattr(recipes, "local_dataset_ids", lambda: {"adiff/x-v0"})
    monkeypatch.setattr(recipes, "shipped_recipes", lambda: pytest.fail("no recipe lookup for a present dataset"))
    assert recipes.ensure_dataset("adiff/x-v0", collect=True) == "adiff/x-v0"


def test_docker_commands_check_engine_and_image_first(capsys, monkeypatch, tmp_path):
    from adiff_env.sandbox import image

    class FakeClient:
        def close(self):
            pass

    monkeypatch.setattr(image, "docker_client", lambda: FakeClient())
    monkeypatch.setattr(image, "image_exists", lambda client, tag: False)
    assert main(["code", "corpus", "--out", str(tmp_path / "c.jsonl")]) == 2
    assert "`uv run adiff sandbox build --offline`" in capsys.readouterr().err
    assert not (tmp_path / "c.jsonl").exists()

    def no_engine():
        raise RuntimeError("No Docker engine answers")

    monkeypatch.setattr(image, "docker_client", no_engine)
    assert main(["code", "tasks", "check", "procedural:train:1", "--sandbox", "docker"]) == 2
    assert "No Docker engine answers" in capsys.readouterr().err
    assert main(["code", "train", "--corpus", str(tmp_path / "missing.jsonl")]) == 2
    assert "uv run adiff code corpus --out" in capsys.readouterr().err


def test_models_and_agents_lists(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "pointmaze-umaze@v2" in out and "coder-default@v1" in out and "shipped" in out
    assert main(["models", "show", "pointmaze-umaze"]) == 0
    assert "trajectory-planner" in capsys.readouterr().out
    assert main(["models", "show", "pointmaze-umze"]) == 2
    assert "Did you mean 'pointmaze-umaze'" in capsys.readouterr().err
    assert main(["agents", "list", "--options"]) == 0
    out = capsys.readouterr().out
    assert "replan_every" in out and "samples" in out
    assert main(["envs", "list"]) == 0
    assert "adiff/PointMaze-UMaze-v0" in capsys.readouterr().out


def test_error_rule_one_line_only_for_our_validation():
    import json

    import numpy as np

    from adiff_env.cli.main import is_user_error
    from adiff_env.errors import MissingResourceError

    def raised(fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the rule is what is tested
            return exc
        raise AssertionError("did not raise")

    from adiff_env.evaluation import evaluate

    def ours():
        raise ValueError("raised in tests/, not in adiff_env")

    assert is_user_error(MissingResourceError("no dataset"))
    assert is_user_error(raised(lambda: evaluate("Pendulum-v1", "random", episodes=0)))  # adiff_env's own check
    assert not is_user_error(raised(ours))
    assert not is_user_error(raised(lambda: np.ones(2) + np.ones(3)))  # ValueError inside numpy
    assert not is_user_error(raised(lambda: json.loads("{")))  # ValueError inside json
    assert not is_user_error(raised(lambda: {}["k"]))
    assert not is_user_error(TypeError("x"))


def test_maze_evolve_checks_from_options_checkpoint_and_dataset_first(capsys, monkeypatch):
    from adiff_env.evolve import loop

    monkeypatch.setattr(loop, "EvolutionLoop", lambda *a, **k: pytest.fail("evolution started"))
    env = "adiff/PointMaze-UMaze-v0"
    assert main(["maze", "evolve", env, "--from", "planner:pointmaze-umaze?replan_evry=2"]) == 2
    assert "Did you mean 'replan_every'?" in capsys.readouterr().err
    assert main(["maze", "evolve", env, "--from", "planner:pointmaze-umze"]) == 2
    assert "Unknown model 'pointmaze-umze'. Did you mean 'pointmaze-umaze'?" in capsys.readouterr().err
    assert main(["maze", "evolve", env, "--from", "planner:pointmaze-umaze?kp=8", "--no-collect"]) == 2
    assert "`uv run adiff datasets collect --recipe pointmaze-umaze`" in capsys.readouterr().err


def test_maze_evolve_passes_from_options_as_act(monkeypatch):
    from adiff_env.cli import maze
    from adiff_env.datasets import recipes

    monkeypatch.setattr(recipes, "local_dataset_ids", lambda: {"adiff/pointmaze-umaze-v0"})
    argv = maze.preflight_evolve(["adiff/PointMaze-UMaze-v0", "--from", "planner:pointmaze-umaze@v2?kp=8&action=pd",
                                  "--no-collect", "--rounds", "1"])
    assert argv == ["adiff/PointMaze-UMaze-v0", "--from", "planner:pointmaze-umaze@v2", "--rounds", "1",
                    "--act", "kp=8.0", "--act", 'action="pd"']


def test_a_missing_model_fails_before_any_env_or_episode(capsys, monkeypatch):
    import gymnasium as gym

    monkeypatch.setattr(gym, "make", lambda *a, **k: pytest.fail("env built before the model was checked"))
    assert main(["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "planner:pointmaze-umze?steps=5"]) == 2
    assert "Did you mean 'pointmaze-umaze'?" in capsys.readouterr().err


def test_code_evolve_checks_its_base_first(capsys):
    assert main(["code", "evolve", "--from", "coder:no-such-coder", "--sandbox", "process"]) == 2
    assert "Unknown model 'no-such-coder'" in capsys.readouterr().err
