"""Air-goal adaptation options: the workspace normalizer, the goal pull, the guarded selection
score and their checks (fast; no training)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from adiff_env.cli.evolve_fetch import config_from_args, register
from adiff_env.errors import UnknownNameError
from adiff_env.manipulation.evolve import GUARD_FAILED, FetchEvolveConfig, FetchEvolveDomain
from adiff_env.manipulation.exploration import GoalPull
from adiff_env.manipulation.workspace import covers, widen_normalizer, workspace_high

PNP = "adiff/FetchPickAndPlace-v0"
AIR, TABLE = {"goal_region": "air"}, {"goal_region": "table"}


def _minmax(a: int = 4, o: int = 25) -> dict:
    return {"kind": "minmax", "low": [-1.0] * a + [0.4] * o, "high": [1.0] * a + [0.5] * o}


def test_widen_normalizer_raises_only_the_height_bounds():
    high = workspace_high(0.42)
    assert high == pytest.approx(0.42 + 0.45 + 0.03)
    norm = _minmax()
    wide = widen_normalizer(norm, 4, high)
    changed = [i for i, (x, y) in enumerate(zip(norm["high"], wide["high"], strict=True)) if x != y]
    assert changed == [4 + 2, 4 + 5] and wide["high"][6] == pytest.approx(high) and wide["low"] == norm["low"]
    assert norm["high"][6] == 0.5  # the input is not modified
    assert covers(wide, 4, high) and not covers(norm, 4, high)
    assert widen_normalizer(wide, 4, 0.1)["high"] == wide["high"]  # never narrows


@pytest.mark.parametrize("bad, match", [
    (lambda: widen_normalizer({"kind": "gaussian", "mean": [0.0], "std": [1.0]}, 0, 1.0), "minmax"),
    (lambda: widen_normalizer(_minmax(o=3), 4, 1.0), r"dims \[5\] are outside the 3 state dims"),
    (lambda: widen_normalizer(_minmax(), -1, 1.0), "action_dim"),
    (lambda: workspace_high(0.42, margin=-0.01), "margin"),
])
def test_widen_normalizer_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


class _Fixed:
    batch_predict = True

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.tile(np.array([0.0, 0.0, -1.0, -0.5], np.float32), (len(observation["observation"]), 1)), state


def test_goal_pull_moves_only_held_blocks_towards_their_goal():
    z = 0.42
    obs = np.zeros((4, 25))
    obs[:, 3:6] = [1.3, 0.75, z + 0.03]
    obs[:, 9:11] = 0.024  # fingers closed on the block
    obs[0, 6:9] = [0.0, 0.0, 0.01]  # env 0: block in the fingers, lifted
    obs[1, 6:9] = [0.1, 0.0, 0.0]  # env 1: block 0.1 m away
    obs[2, 9:11] = 0.05  # env 2: fingers open (the planner has not grasped yet)
    obs[3, 5] = z + 0.005  # env 3: held but not lifted yet
    goal = np.tile([1.3, 0.75, z + 0.33], (4, 1))
    action, _ = GoalPull(_Fixed(), 0.5, table_z=z).predict({"observation": obs, "desired_goal": goal})
    assert action[0, :3] == pytest.approx([0.0, 0.0, 0.5 * -1.0 + 0.5 * 1.0])  # pull clipped to 1 (0.3 m away)
    assert action[1:] == pytest.approx(np.tile([0.0, 0.0, -1.0, -0.5], (3, 1))) and action[0, 3] == pytest.approx(-0.5)
    same, _ = GoalPull(_Fixed(), 0.0, table_z=z).predict({"observation": obs, "desired_goal": goal})
    assert np.all(same[:, 2] == -1.0)
    with pytest.raises(ValueError, match=r"goal pull weight must be in \[0, 1\], got 1.5"):
        GoalPull(_Fixed(), 1.5, table_z=z)
    with pytest.raises(ValueError, match="min_lift"):
        GoalPull(_Fixed(), 0.5, table_z=z, min_lift=-1.0)


class _Recorder(_Fixed):
    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        self.seen = np.array(observation["desired_goal"], copy=True)
        return super().predict(observation, state, episode_start, deterministic)


def test_goal_pull_relay_shows_a_table_goal_until_held_and_grip_keeps_the_fingers_closed():
    z = 0.42
    obs = np.zeros((2, 25))
    obs[:, 3:6] = [1.3, 0.75, z + 0.03]
    obs[:, 9:11] = 0.024
    obs[0, 6:9] = [0.0, 0.0, 0.01]  # env 0: held and lifted
    obs[1, 6:9] = [0.1, 0.0, 0.0]  # env 1: not held yet
    goal = np.tile([1.3, 0.75, z + 0.33], (2, 1))
    inner = _Recorder()
    action, _ = GoalPull(inner, 0.5, table_z=z, grip=True, relay=0.0).predict({"observation": obs, "desired_goal": goal})
    assert inner.seen[0] == pytest.approx(goal[0]) and inner.seen[1] == pytest.approx([1.3, 0.75, z])
    assert goal[1, 2] == pytest.approx(z + 0.33)  # the caller's goal (the recorded one) is not modified
    assert action[0, 3] == -1.0 and action[1, 3] == pytest.approx(-0.5)  # fingers forced closed only while held
    GoalPull(inner, 0.0, table_z=z, relay=0.1).predict({"observation": obs, "desired_goal": goal})
    assert inner.seen[1, 2] == pytest.approx(z + 0.1)
    only_grip, _ = GoalPull(_Fixed(), 0.0, table_z=z, grip=True).predict({"observation": obs, "desired_goal": goal})
    assert only_grip[0] == pytest.approx([0.0, 0.0, -1.0, -1.0]) and only_grip[1, 3] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="relay must be >= 0 m or None, got -0.1"):
        GoalPull(_Fixed(), 0.5, table_z=z, relay=-0.1)


def test_config_checks_for_the_new_options():
    cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs=AIR, keep_env_kwargs=TABLE, score="guarded",
                            goal_pull=(0.6, 0.3))
    assert [cfg.pull(k) for k in (1, 2, 3)] == [0.6, 0.3, 0.3] and FetchEvolveConfig(env_id=PNP, base="x").pull(1) == 0.0
    with pytest.raises(UnknownNameError, match="score"):
        FetchEvolveConfig(env_id=PNP, base="x", score="best")
    for bad, match in (({"score": "guarded"}, "keep_env_kwargs"), ({"keep_margin": 3.0}, "keep_margin"),
                       ({"goal_pull": (0.5, -0.1)}, "goal_pull"), ({"pull_relay": -0.05}, "pull_relay"),
                       ({"consolidate_steps": -1}, "consolidate_steps"), ({"lift_margin": -0.01}, "lift_margin")):
        with pytest.raises(ValueError, match=match):
            FetchEvolveConfig(env_id=PNP, base="x", **bad)
    with pytest.raises(UnknownNameError, match="buffer goals"):
        FetchEvolveConfig(env_id=PNP, base="x", buffer_goals="air")


def test_buffer_goals_lifted_passes_the_block_height_floor_to_the_finetune(tmp_path, monkeypatch):
    import adiff_env.planners.finetune as finetune

    seen = {}

    def fake(current, buffer, folder, **kwargs):
        seen.update(kwargs)
        return current, 0.0

    monkeypatch.setattr(finetune, "finetune_on_buffer", fake)
    for goals, expect in (("any", None), ("lifted", "floor")):
        cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs=AIR, buffer_goals=goals, lift_margin=0.02)
        domain = FetchEvolveDomain(cfg)
        domain._run = SimpleNamespace(name="x", progress=False, workdir=tmp_path)
        domain.finetune(SimpleNamespace(path=tmp_path), [], tmp_path, 1)
        if expect is None:
            assert seen["buffer_goal_above"] is None
        else:
            dim, value = seen["buffer_goal_above"]
            env = gym.make(PNP)
            assert dim == 5 and value == pytest.approx(env.unwrapped.height_offset + 0.02)
            env.close()


def test_guarded_score_rejects_a_candidate_that_forgets_the_kept_task(tmp_path):
    cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs=AIR, keep_env_kwargs=TABLE, score="guarded",
                            keep_margin=0.03)
    domain = FetchEvolveDomain(cfg)
    rates = {}
    domain.success = lambda ckpt, kwargs, *a, **k: rates[ckpt.path.name][kwargs["goal_region"]]  # type: ignore[method-assign]
    base, good, bad = (SimpleNamespace(path=Path(tmp_path / n)) for n in ("base", "good", "bad"))
    rates.update(base={"air": 0.1, "table": 0.5}, good={"air": 0.4, "table": 0.48}, bad={"air": 0.9, "table": 0.4})
    domain._run = SimpleNamespace(base=base, workdir=tmp_path)
    assert domain.evaluate(base).score == pytest.approx(10.0)  # the base: its air success, and the guard's reference
    ev = domain.evaluate(good)
    assert ev.score == pytest.approx(40.0) and ev.summary["keep_reference"] == 0.5 and "guard" not in ev.summary
    ev = domain.evaluate(bad)
    assert ev.score == GUARD_FAILED and ev.summary["guard"].startswith("failed")
    resumed = FetchEvolveDomain(cfg)  # a resumed run reads the reference from state.json
    resumed.success = domain.success  # type: ignore[method-assign]
    resumed._run = SimpleNamespace(base=base, workdir=tmp_path)
    (tmp_path / "state.json").write_text('{"baseline_eval": {"keep_success_rate": 0.42}}')
    assert resumed.evaluate(bad).score == pytest.approx(90.0)  # 0.40 >= 0.42 - 0.03


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="adiff planner")
    register(parser.add_subparsers(dest="cmd", required=True))
    return parser.parse_args(argv)


def test_cli_options_reach_the_config_and_bad_values_fail_clearly(capsys):
    args = _parse(["evolve", PNP, "--from", "planner:x", "--env-kwarg", 'goal_region="air"', "--keep-env-kwarg",
                   'goal_region="table"', "--score", "guarded", "--keep-margin", "0.05", "--goal-pull", "0.7,0.4",
                   "--pull-grip", "--pull-relay", "0", "--consolidate-steps", "300",
                   "--buffer-goals", "lifted", "--lift-margin", "0.03"])
    cfg = config_from_args(args)
    assert (cfg.score, cfg.keep_margin, cfg.goal_pull) == ("guarded", 0.05, (0.7, 0.4))
    assert (cfg.pull_grip, cfg.pull_relay, cfg.consolidate_steps) == (True, 0.0, 300)
    assert (cfg.buffer_goals, cfg.lift_margin) == ("lifted", 0.03)
    plain = config_from_args(_parse(["evolve", PNP, "--from", "planner:x"]))
    assert (plain.pull_grip, plain.pull_relay, plain.consolidate_steps) == (False, None, 0)
    assert (plain.buffer_goals, plain.lift_margin) == ("any", 0.02)
    with pytest.raises(SystemExit):
        _parse(["evolve", PNP, "--from", "planner:x", "--goal-pull", "high"])
    assert "expected comma-separated weights" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["workspace", "planner:x", "--name", "y", "--steps", "0"])
    ws = _parse(["workspace", "planner:x", "--name", "y", "--steps", "10"])
    assert (ws.steps, ws.env, ws.margin) == (10, PNP, 0.03)


@pytest.mark.slow
def test_workspace_command_widens_and_trains_a_tiny_planner(tmp_path, capsys):
    """`adiff planner workspace` end to end: a tiny table-goal planner gets the goal region's
    height bounds, trains on its own data and is registered with it as parent."""
    import json

    from adiff_env.cli.main import main
    from adiff_env.datasets.collect import collect_dataset
    from adiff_env.registry import ModelRegistry

    collect_dataset(PNP, 20, noise_std=0.0, dataset_id="adiff/tiny-ws-table-v0", episode_steps=50, continuing=False,
                    env_kwargs=TABLE, progress=False)
    preset = tmp_path / "tiny-ws.toml"
    preset.write_text(
        f'name = "tiny-ws"\nenv = "{PNP}"\ndataset = "adiff/tiny-ws-table-v0"\n'
        '[data]\nhorizon = 16\ngoal_mode = "hindsight"\nmin_goal_index = 2\n'
        '[model]\narch = "temporal_unet"\ndim = 8\ndim_mults = [1, 2]\n[diffusion]\nn_timesteps = 8\nglobal_cond = true\n'
        '[train]\nsteps = 3\nbatch_size = 8\nwarmup_steps = 1\neval_every = 0\ncheckpoint_every = 3\n'
        'inverse_dynamics_hidden = 16\n[act]\nsampler_steps = 2\naction = "inverse-dynamics"\ndeadline = "horizon"\n')
    assert main(["--threads", "1", "planner", "train", PNP, "--preset", str(preset), "--quiet", "--no-collect"]) == 0
    capsys.readouterr()
    assert main(["--threads", "1", "planner", "workspace", "planner:tiny-ws", "--name", "tiny-ws", "--steps", "2",
                 "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["registered"] == "tiny-ws@v2" and out["parent"] == "tiny-ws@v1" and out["steps"] == 2
    registry = ModelRegistry()
    old, new = (registry.load(f"tiny-ws@v{v}").metadata for v in (1, 2))
    assert new.parent == "tiny-ws@v1" and old.normalizer["high"][6] < 0.6 < new.normalizer["high"][6]
    assert new.normalizer["high"][6] == new.normalizer["high"][9] and new.normalizer["low"] == old.normalizer["low"]


# ---------------------------------------------------------------- rehearsal of the kept task (s11)
def _fake_rollout(seed: int, success: bool, z: float, t: int = 6):
    from adiff_env.manipulation.rollouts import Rollout

    obs = np.zeros((t + 1, 25), np.float64)
    obs[:, 3:6] = [1.3, 0.75, z]
    item = {"obs/observation": obs, "obs/achieved_goal": obs[:, 3:6].copy(),
            "obs/desired_goal": np.tile([1.3, 0.75, z], (t + 1, 1)), "actions": np.zeros((t, 4), np.float32),
            "rewards": np.zeros(t)}
    return Rollout(item=item, success=success, ever=success, ret=float(-seed % 7), seed=seed)


def test_keep_samples_is_checked_parsed_and_named_in_errors(capsys):
    assert FetchEvolveConfig(env_id=PNP, base="x").keep_samples == 0  # default: no rehearsal
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match=r"keep_samples \(kept-task episodes rehearsed per round\) must be an integer"):
            FetchEvolveConfig(env_id=PNP, base="x", keep_env_kwargs=TABLE, keep_samples=bad)
    with pytest.raises(ValueError, match="keep_samples=8 rehearses the kept task: set keep_env_kwargs"):
        FetchEvolveConfig(env_id=PNP, base="x", keep_samples=8)
    args = _parse(["evolve", PNP, "--from", "planner:x", "--keep-env-kwarg", 'goal_region="table"',
                   "--keep-samples", "64"])
    assert config_from_args(args).keep_samples == 64
    assert config_from_args(_parse(["evolve", PNP, "--from", "planner:x"])).keep_samples == 0
    for bad in ("-3", "many"):
        with pytest.raises(SystemExit):
            _parse(["evolve", PNP, "--from", "planner:x", "--keep-samples", bad])
        assert "--keep-samples: expected an integer >= 0" in capsys.readouterr().err


def test_rehearsed_table_rollouts_reach_the_buffer_labelled(tmp_path, monkeypatch):
    import adiff_env.manipulation.rollouts as rollouts_mod

    calls = []

    def fake_batch(make_env, agent, seeds, goals=None, **kwargs):
        env = make_env()
        region = env.unwrapped.goal_region
        z = env.unwrapped.height_offset
        env.close()
        calls.append((region, list(seeds), agent))
        # air: every episode succeeds, lifted; table: every other one succeeds, on the table
        return [_fake_rollout(s, region == "air" or i % 2 == 0, z + (0.2 if region == "air" else 0.0))
                for i, s in enumerate(seeds)]

    monkeypatch.setattr(rollouts_mod, "run_batch", fake_batch)
    cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs=AIR, keep_env_kwargs=TABLE, samples=4,
                            keep_samples=6, max_normalized=None, chain=False)
    domain = FetchEvolveDomain(cfg)
    domain._planner = lambda ckpt, env, seed: SimpleNamespace(seed=seed)  # type: ignore[method-assign]
    domain._run = SimpleNamespace(name="x", progress=False, workdir=tmp_path)
    gen = domain.generate(SimpleNamespace(path=tmp_path, spec="x@v1"), 1)
    (air_region, air_seeds, _), (table_region, table_seeds, table_agent) = calls
    assert (air_region, table_region) == ("air", "table")
    assert table_seeds == [air_seeds[-1] + 1 + i for i in range(6)]  # right after the target's seeds
    assert not hasattr(table_agent, "agent")  # unaided: no goal pull / relay wrapper
    labels = [int(item["infos/rehearsal"][0]) for item in gen.items]
    assert labels == [0] * 4 + [1] * 3 and len(gen.rewards) == 7
    assert all(len(item["infos/rehearsal"]) == len(item["actions"]) + 1 for item in gen.items)
    assert (gen.extras["rehearsal_generated"], gen.extras["rehearsal_succeeded"], gen.extras["rehearsal_kept"]) == (6, 3, 3)
    assert gen.extras["succeeded"] == 4 and gen.generated == 4
    plain = FetchEvolveDomain(dataclasses.replace(cfg, keep_samples=0))
    plain._planner = domain._planner  # type: ignore[method-assign]
    plain._run = domain._run
    calls.clear()
    gen = plain.generate(SimpleNamespace(path=tmp_path, spec="x@v1"), 1)
    assert len(calls) == 1 and all("infos/rehearsal" not in item for item in gen.items)  # default: unchanged


def test_rehearsal_labels_exempt_episodes_from_lifted_goals(tmp_path, monkeypatch):
    """The buffer exports ``infos/rehearsal`` to Minari; with goal_above the labelled (table)
    episodes keep goals at every step, the unlabelled (air) ones only at lifted steps; the
    evolve domain asks for the exemption only when it rehearses and buffer_goals is lifted."""
    import minari

    import adiff_env.planners.finetune as finetune
    from adiff_env.datasets.segments import SegmentDataset
    from adiff_env.evolve.buffer import TrajectoryBuffer
    from adiff_env.manipulation.evolve import REHEARSAL, _labelled

    env = gym.make(PNP)
    z = env.unwrapped.height_offset
    t = 12
    table = _fake_rollout(1, True, z, t).item  # the block never leaves the table
    air = _fake_rollout(2, True, z, t).item
    air["obs/observation"][6:, 5] = z + 0.2  # lifted from step 6 on
    buf = TrajectoryBuffer()
    buf.add(_labelled(air, 0), -1.0)
    buf.add(_labelled(table, 1), -2.0)
    buf.to_minari("evolve/rehearse-test-v0", env)
    episodes = list(minari.load_dataset("evolve/rehearse-test-v0").iterate_episodes())
    assert [int(np.asarray(e.infos[REHEARSAL]).max()) for e in episodes] == [0, 1]
    kw = {"goal_mode": "hindsight", "min_goal_index": 2, "normalizer": None, "goal_above": (5, z + 0.02)}
    exempt = SegmentDataset("evolve/rehearse-test-v0", 4, goal_above_exempt=REHEARSAL, **kw)
    strict = SegmentDataset("evolve/rehearse-test-v0", 4, **kw)
    per_episode = {e: int((exempt.indices[:, 0] == e).sum()) for e in (0, 1)}
    assert per_episode[1] == t - 2 and 0 < per_episode[0] < t - 2  # table: every start; air: only lifted goals
    assert int((strict.indices[:, 0] == 1).sum()) == 0  # without the exemption the table episode gives none
    np.testing.assert_array_equal(strict.indices, exempt.indices[exempt.indices[:, 0] == 0])
    with pytest.raises(ValueError, match="goal_above_exempt='rehearsal' exempts episodes from goal_above"):
        SegmentDataset("evolve/rehearse-test-v0", 4, goal_mode="hindsight", goal_above_exempt=REHEARSAL)
    odd = TrajectoryBuffer()
    odd.add(_labelled(air, 0), -1.0)
    odd.add(table, -2.0)
    with pytest.raises(ValueError, match="every item needs the same infos/<key> entries"):
        odd.to_minari("evolve/rehearse-odd-v0", env)
    env.close()

    seen = {}

    def fake(current, buffer, folder, **kwargs):
        seen.update(kwargs)
        return current, 0.0

    monkeypatch.setattr(finetune, "finetune_on_buffer", fake)
    for goals, keep, expect in (("lifted", 8, REHEARSAL), ("lifted", 0, None), ("any", 8, None)):
        cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs=AIR, keep_env_kwargs=TABLE,
                                buffer_goals=goals, keep_samples=keep)
        domain = FetchEvolveDomain(cfg)
        domain._run = SimpleNamespace(name="x", progress=False, workdir=tmp_path)
        domain.finetune(SimpleNamespace(path=tmp_path), [], tmp_path, 1)
        assert seen["buffer_goal_exempt"] == expect
