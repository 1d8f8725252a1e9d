"""End-to-end maze self-evolution on a tiny planner in a temp ADIFF_HOME: rounds, registration
only on improvement, interruption + resume, CLI (the loop on the maze domain)."""

from __future__ import annotations

import json
import math

import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.cli.main import main
from adiff_env.evolve.loop import EvolutionLoop, EvolveCallback
from adiff_env.maze.evolve import MazeEvolveConfig, MazeEvolveDomain
from adiff_env.planners.preset import PlannerPreset
from adiff_env.registry import ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"
DATASET = "test/umaze-evolve-v0"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """4,000 real expert steps and a tiny planner trained on them for 40 steps (seconds)."""
    from adiff_env.datasets.collect import collect_dataset
    from adiff_env.planners.train import train_planner

    root = tmp_path_factory.mktemp("evolve")
    preset = PlannerPreset.from_dict({
        "name": "tiny", "env": ENV, "dataset": DATASET,
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8},
        "train": {"steps": 40, "batch_size": 16, "eval_every": 0, "checkpoint_every": 40, "inverse_dynamics_hidden": 16},
        "act": {"sampler": "ddim", "sampler_steps": 4, "replan_every": 8},
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 4000, seed=0, dataset_id=DATASET, episode_steps=1000, progress=False)
        result = train_planner(preset, run_dir=root / "run", progress=False, registry=ModelRegistry(root / "models", []))
    return result.checkpoint, root


@pytest.fixture
def registry(tiny, monkeypatch, tmp_path):
    ckpt, root = tiny
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    reg = ModelRegistry(tmp_path / "home", [])
    reg.save("tiny", ckpt.metadata, tensors=ckpt.tensors, config=ckpt.config)
    return reg


def config(tmp_path, **over) -> MazeEvolveConfig:
    kw = dict(env_id=ENV, base="planner:tiny", rounds=2, samples=3, candidates=2, epsilon=100.0, require_success=False,
              finetune_steps=6, batch_size=8, eval_episodes=1, min_distance=0.0, workdir=str(tmp_path / "work"))
    kw.update(over)
    return MazeEvolveConfig(**kw)


def maze_loop(cfg, callbacks=(), score_fn=None, **kw) -> EvolutionLoop:
    return EvolutionLoop(MazeEvolveDomain(cfg, score_fn=score_fn), callbacks, **kw)


class Interrupt(EvolveCallback):
    def on_round_start(self, loop, round_index):
        if round_index == 2:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_two_rounds_register_only_on_improvement_and_resume(registry, tmp_path):
    scores = iter([1.0, 2.0, 1.5])  # baseline, round 1 (better), round 2 (worse)
    lines: list[str] = []
    kw = dict(score_fn=lambda result: next(scores), registry=registry, progress=False, log=lines.append)
    with pytest.raises(KeyboardInterrupt):
        maze_loop(config(tmp_path), [Interrupt()], **kw).run()
    state = json.loads((tmp_path / "work" / "state.json").read_text())
    assert [r["round"] for r in state["rounds"]] == [1] and state["current"] == "tiny@v2"
    assert state["format"] == 2 and state["domain"] == "maze" and state["loop"]["rounds"] == 2
    assert state["rounds"][0]["extras"] == {"infeasible": 0, "unsuccessful": 0, "coinless": 0}
    assert registry.versions("tiny") == [1, 2]
    v2 = registry.load("tiny@v2")
    assert v2.metadata.parent == "tiny@v1" and v2.metadata.scores["score"] == 2.0
    assert v2.metadata.extra["evolve_round"] == 1 and v2.metadata.extra["extra_ratio"] == 0.3

    with pytest.raises(FileExistsError, match="resume"):
        maze_loop(config(tmp_path), **kw)
    state = maze_loop(config(tmp_path), resume=True, **kw).run()
    assert [r.round for r in state.rounds] == [1, 2]
    second = state.rounds[1]
    assert second.score == 1.5 and not second.improved and second.registered is None
    assert registry.versions("tiny") == [1, 2]  # no new version for a round that did not improve
    assert state.current == "tiny@v2" and state.best_score == 2.0
    first = state.rounds[0]
    assert first.generated == 3 and first.kept == 3 and first.buffer["size"] == 3
    assert second.buffer["size"] == 6 and math.isfinite(second.loss) and second.loss > 0
    work = tmp_path / "work"
    assert (work / "score_by_round.png").stat().st_size > 0 and list((work / "tb").iterdir())
    assert (work / "rounds" / "r2" / "buffer" / "buffer.json").exists()
    assert any("no improvement: kept tiny@v2" in line for line in lines)
    assert any("registered tiny@v2" in line for line in lines)


@pytest.mark.slow
def test_resume_adopts_a_version_registered_before_an_interruption(registry, tmp_path):
    scores = iter([1.0, 2.0])
    kw = dict(score_fn=lambda result: next(scores), registry=registry, progress=False, log=lambda s: None)
    evolver = maze_loop(config(tmp_path, rounds=1), **kw)
    original = evolver._write_state
    calls = []

    def crash_after_baseline():
        calls.append(1)
        if len(calls) == 2:  # the write after round 1, after its version was registered
            raise KeyboardInterrupt
        original()

    evolver._write_state = crash_after_baseline
    with pytest.raises(KeyboardInterrupt):
        evolver.run()
    assert registry.versions("tiny") == [1, 2]
    state = maze_loop(config(tmp_path, rounds=1), resume=True, **kw).run()
    assert state.rounds[0].recovered and state.current == "tiny@v2"
    assert registry.versions("tiny") == [1, 2]


@pytest.mark.slow
def test_cli_runs_a_round_on_a_gold_coin_maze(registry, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path / "home"))
    code = main(["maze", "evolve", "adiff/PointMaze-Medium-GoldCoin-v0", "--from", "planner:tiny", "--rounds", "1", "--samples", "2",
                 "--finetune-steps", "3", "--eval-episodes", "1", "--quiet", "--json", "--workdir", str(tmp_path / "w"),
                 "--generation", "closed-loop", "--min-improvement", "2.5", "--act", "deadline_speed=0.03",
                 "--min-reward", "5", "--top-quantile", "0.25"])
    assert code == 0
    state = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert state["config"]["deadline"] == "horizon" and state["config"]["generation"] == "closed-loop"
    assert state["config"]["min_improvement"] == 2.5 and state["config"]["eval_seed"] == 50_000
    assert state["config"]["act"] == {"deadline_speed": 0.03}
    assert state["config"]["min_reward"] == 5 and state["config"]["top_quantile"] == 0.25
    # the score on a gold-coin maze counts coins and success, and the summary keeps the coin figures
    assert state["baseline"] == pytest.approx(50 * (state["baseline_eval"]["coins_mean"] / 2 + state["baseline_eval"]["success_rate"]))
    assert len(state["rounds"]) == 1 and state["rounds"][0]["generated"] == 2
    assert main(["maze", "evolve", ENV, "--from", "planner:tiny", "--reward", "golde=1"]) == 2
    assert main(["maze", "evolve", ENV, "--from", "planner:tiny", "--reward", "goal"]) == 2


@pytest.mark.slow
def test_a_missing_base_dataset_stops_the_run_before_any_work(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "no-data"))
    loop = maze_loop(config(tmp_path), score_fn=lambda r: pytest.fail("evaluated without its dataset"), registry=registry,
                     progress=False, log=lambda s: None)
    with pytest.raises(FileNotFoundError, match=r"test/umaze-evolve-v0.*adiff datasets collect adiff/PointMaze-UMaze-v0"):
        loop.run()
    assert not (tmp_path / "work" / "state.json").exists()


def test_config_validation():
    with pytest.raises(ValueError, match="rounds"):
        MazeEvolveConfig(env_id=ENV, base="x", rounds=0)
    with pytest.raises(ValueError, match=r"act: unknown acting options \['speed'\]"):
        MazeEvolveConfig(env_id=ENV, base="x", act={"speed": 1})
    with pytest.raises(ValueError, match="min_improvement must be >= 0, got -1"):
        MazeEvolveConfig(env_id=ENV, base="x", min_improvement=-1)
    with pytest.raises(ValueError, match="mix_ratio"):
        MazeEvolveConfig(env_id=ENV, base="x", mix_ratio=2.0)
    with pytest.raises(ValueError, match="deadline"):
        MazeEvolveConfig(env_id=ENV, base="x", deadline="soon")
    with pytest.raises(ValueError, match="generation"):
        MazeEvolveConfig(env_id=ENV, base="x", generation="dreamed")


def test_generate_rejects_unknown_mode():
    from adiff_env.diffusion import GuidanceConfig
    from adiff_env.maze.filter import FilterConfig
    from adiff_env.maze.generate import generate

    with pytest.raises(ValueError, match="mode"):
        generate(None, None, samples=1, candidates=1, reward_weights={}, guidance=GuidanceConfig(),
                 filter_config=FilterConfig(), mode="teleport")


def test_closed_loop_drive_records_the_executed_episode_until_it_rests_at_the_goal():
    import gymnasium as gym
    import numpy as np

    from adiff_env.maze.expert import make_expert
    from adiff_env.maze.generate import REST_STEPS, _drive

    env = gym.make(ENV)
    obs, _ = env.reset(seed=0, options={"reset_cell": (3, 1), "goal_cell": (1, 1)})
    rollout = _drive(make_expert(env), env, obs, plan_fn=None, max_steps=290)
    pos, goal = rollout["obs/observation"][:, :2], rollout["obs/desired_goal"][-1]
    assert len(pos) == len(rollout["actions"]) + 1 < 291
    assert (np.linalg.norm(pos[-REST_STEPS:] - goal, axis=1) <= 0.5).all()
    np.testing.assert_allclose(pos[0], obs["observation"][:2])


@pytest.mark.slow
def test_faster_than_keeps_only_rollouts_that_arrive_no_later_than_the_reference(tiny):
    from adiff_env.maze.shards import MazeGenerationWorker, MazeShard

    ckpt, _ = tiny
    shard = MazeShard(round_index=1, index=0, start=0, stop=3, pair_seed=1, planner_seed=1)
    runs = {}
    for margin in (0, 10_000):
        cfg = MazeEvolveConfig(env_id=ENV, base="planner:tiny", samples=3, candidates=1, generation="closed-loop",
                               faster_than="expert", faster_margin=margin, act={"deadline_speed": 0.1})
        worker = MazeGenerationWorker(cfg)
        try:
            runs[margin] = worker.run(ckpt, shard)
        finally:
            worker.close()
    for margin, gen in runs.items():
        successful = gen.generated - gen.extras["unsuccessful"]
        assert gen.kept == len(gen.items) == successful - gen.extras["slower"]
        assert len(gen.extras["lead_steps"]) <= successful
        assert sum(lead >= margin for lead in gen.extras["lead_steps"]) == gen.kept
    assert runs[10_000].kept == 0  # no rollout arrives 10,000 steps before the expert
    with pytest.raises(ValueError, match="faster_margin must be >= 0 steps"):
        MazeEvolveConfig(env_id=ENV, base="x", faster_margin=-1)
    with pytest.raises(ValueError, match="faster_than must be an agent spec"):
        MazeEvolveConfig(env_id=ENV, base="x", faster_than=" ")


def test_min_turns_draws_only_pairs_whose_route_turns():
    import gymnasium as gym
    import numpy as np

    from adiff_env.maze.generate import draw_pairs
    from adiff_env.maze.layout import route_turns

    env = gym.make("adiff/PointMaze-UMaze-v0")
    try:
        layout = env.unwrapped.layout
        for k in (1, 2):
            pairs = draw_pairs(env, 30, np.random.default_rng(0), min_turns=k)
            assert len(pairs) == 30 and all(a != b and route_turns(layout, a, b) >= k for a, b in pairs)
        plain = draw_pairs(env, 30, np.random.default_rng(0))
        assert plain == draw_pairs(env, 30, np.random.default_rng(0), min_turns=0)  # 0: the original draw
        assert any(route_turns(layout, a, b) == 0 for a, b in plain)
        with pytest.raises(ValueError, match=r"no start/goal pair .* \(the most is 2\)"):
            draw_pairs(env, 3, np.random.default_rng(0), min_turns=3)
        with pytest.raises(ValueError, match="min_turns must be >= 0"):
            draw_pairs(env, 3, np.random.default_rng(0), min_turns=-1)
    finally:
        env.close()
    with pytest.raises(ValueError, match="min_turns must be >= 0"):
        MazeEvolveConfig(env_id=ENV, base="x", min_turns=-1)


def test_require_coins_keeps_only_episodes_that_took_every_coin():
    import numpy as np

    from adiff_env.maze.generate import took_all_coins

    assert took_all_coins({"obs/observation": np.zeros((3, 4))})  # no coins in the maze: nothing to take
    assert not took_all_coins({"obs/coins_collected": np.array([[0, 0], [1, 0], [1, 0]])})
    assert took_all_coins({"obs/coins_collected": np.array([[0, 0], [1, 0], [1, 1]])})
    assert not took_all_coins({"obs/coins_collected": np.array([[1, 1], [0, 1]])})  # the last row decides


def test_speed_weight_breaks_ties_between_versions_with_the_same_coins():
    import types

    from adiff_env.maze.evolve import default_score

    def result(score):
        return types.SimpleNamespace(extra={"coins_mean": 2.0, "coins_available": 2}, success_rate=1.0,
                                     normalized_score_x100_mean=score, return_mean=0.0)

    assert default_score(result(40.0)) == default_score(result(60.0)) == 100.0
    assert default_score(result(60.0), speed_weight=0.1) == pytest.approx(106.0)
    assert default_score(result(60.0), speed_weight=0.1) > default_score(result(40.0), speed_weight=0.1)
    with pytest.raises(ValueError, match="speed_weight must be >= 0"):
        MazeEvolveConfig(env_id=ENV, base="x", speed_weight=-0.1)
    assert MazeEvolveDomain(MazeEvolveConfig(env_id=ENV, base="x", speed_weight=0.1)).score_fn(result(60.0)) == pytest.approx(106.0)


def test_finetuning_keeps_the_checkpoints_own_acting_options(monkeypatch, tmp_path):
    """A derived version changes ``config["act"]`` without retraining (pointmaze-medium-evo@v3's
    subgoal_cells, fetch-push@v4's hold_tolerance): its fine-tuned candidates keep those options
    (before: they were rebuilt from the training preset's act and lost them)."""
    import types

    import adiff_env.planners.train as train_module
    from adiff_env.planners.finetune import finetune_on_buffer

    preset = PlannerPreset.from_dict({"name": "p", "env": ENV, "dataset": DATASET, "data": {"horizon": 16},
                                      "act": {"deadline_speed": 0.05}})
    current = types.SimpleNamespace(config={"preset": preset.to_dict(), "act": {"deadline_speed": 0.1, "subgoal_cells": 2}},
                                    spec="p@v3")
    seen = {}

    def fake_train(p, **kwargs):
        seen["act"] = p.act
        return types.SimpleNamespace(checkpoint=None, final_loss=0.0)

    monkeypatch.setattr(train_module, "train_planner", fake_train)
    buffer = types.SimpleNamespace(to_minari=lambda *a, **k: None)
    finetune_on_buffer(current, buffer, tmp_path, name="p", env_id=ENV, steps=2, lr=1e-4, seed=0, mix_ratio=0.5)
    assert seen["act"].subgoal_cells == 2 and seen["act"].deadline_speed == 0.1
    finetune_on_buffer(current, buffer, tmp_path, name="p", env_id=ENV, steps=2, lr=1e-4, seed=0, mix_ratio=0.5,
                       act={"reward": "task"})
    assert seen["act"].subgoal_cells == 2 and seen["act"].reward == "task"
