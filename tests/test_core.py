import json

import gymnasium as gym
import numpy as np
import pytest

from adiff_env.agents import RandomAgent, agent_kinds, make_agent, parse_agent_spec, register_agent
from adiff_env.assets import asset_path, asset_root
from adiff_env.cli.main import main
from adiff_env.errors import UnknownNameError


def test_unknown_name_suggests_nearest():
    err = UnknownNameError("agent kind", "expret", ["expert", "random"])
    assert "Did you mean 'expert'?" in str(err)
    assert "expert, random" in str(err)
    assert isinstance(err, ValueError)


def test_parse_agent_spec():
    assert parse_agent_spec("random") == ("random", "")
    assert parse_agent_spec("planner:umaze@v2") == ("planner", "umaze@v2")
    assert parse_agent_spec("sb3:C:/x.zip") == ("sb3", "C:/x.zip")
    with pytest.raises(ValueError, match="non-empty"):
        parse_agent_spec("  ")


def test_make_agent_unknown_kind_lists_known():
    env = gym.make("Pendulum-v1")
    with pytest.raises(UnknownNameError, match="Known agent kinds: .*random"):
        make_agent("nosuch:thing", env)


def test_register_agent_rejects_colon():
    with pytest.raises(ValueError, match="no ':'"):
        register_agent("a:b", lambda arg, env: None)


def test_random_agent_is_in_space_and_seeded():
    env = gym.make("Pendulum-v1")
    a1 = make_agent("random:3", env)
    a2 = RandomAgent(gym.make("Pendulum-v1").action_space, seed=3)
    obs, _ = env.reset(seed=0)
    act1, state = a1.predict(obs)
    act2, _ = a2.predict(obs)
    assert state is None
    assert env.action_space.contains(act1)
    np.testing.assert_array_equal(act1, act2)
    assert "random" in agent_kinds()


def test_asset_root_finds_checkout_folders():
    assert asset_root("envs").is_dir()
    assert asset_path("envs", "mazes").parent == asset_root("envs")
    with pytest.raises(ValueError, match="Unknown asset kind"):
        asset_root("models")


def test_cli_evaluate_json_on_gymnasium_env(capsys):
    code = main(["evaluate", "Pendulum-v1", "--agent", "random:0", "--episodes", "2", "--seed", "5", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env"] == "Pendulum-v1" and out["episodes"] == 2 and out["seed"] == 5
    assert len(out["returns"]) == 2 and out["return_mean"] == pytest.approx(np.mean(out["returns"]))
    assert out["normalized_score_mean"] is None  # Pendulum has no reference scores
    for key in ("return_std", "normalized_score_x100_mean", "success_rate", "wall_s"):
        assert key in out


def test_cli_bad_agent_exits_nonzero(capsys):
    code = main(["evaluate", "Pendulum-v1", "--agent", "rnadom", "--episodes", "1"])
    assert code == 2
    assert "Did you mean 'random'" in capsys.readouterr().err


def test_cli_bad_episodes_exits_nonzero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "Pendulum-v1", "--agent", "random", "--episodes", "0"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_cli_threads_option_sets_torch_threads(capsys):
    import torch

    before = torch.get_num_threads()
    try:
        assert main(["--threads", "2", "agents", "list"]) == 0
        assert torch.get_num_threads() == 2
        assert "random" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        main(["--threads", "0", "envs", "list"])


def test_run_episodes_passes_episode_options():
    import adiff_env  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.agents import RandomAgent
    from adiff_env.evaluation import run_episodes

    env = gym.make("adiff/PointMaze-UMaze-v0", max_episode_steps=2)
    seen = []
    original = env.reset

    def spy(**kw):
        seen.append(kw.get("options"))
        return original(**kw)

    env.reset = spy
    returns, successes, lengths = run_episodes(env, RandomAgent(env.action_space, 0), 2, seed=0,
                                               episode_options=lambda i: {"goal_cell": (1, 1 + i)})
    assert seen == [{"goal_cell": (1, 1)}, {"goal_cell": (1, 2)}] and lengths == [2, 2]


def test_unknown_name_error_plural():
    err = UnknownNameError("version of m", "v3", ["v1"], plural="versions of m")
    assert str(err).endswith("Known versions of m: v1.")
