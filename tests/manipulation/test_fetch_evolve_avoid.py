"""FetchPush-Avoid self-evolution: the zone test on executed rollouts, the filter that drops
episodes entering the zone, and the safe-success score."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.evolve.domain import EvolveDomain, Generated
from adiff_env.manipulation.evolve import FetchEvolveConfig, FetchEvolveDomain
from adiff_env.manipulation.evolve_avoid import FetchAvoidEvolveDomain, entered_zone, zone_mask
from adiff_env.manipulation.rollouts import Rollout

AVOID = "adiff/FetchPush-Avoid-v0"


def item(block_xy, zone=(1.3, 0.75, 0.05)):
    """A rollout dict whose block moves along ``block_xy`` (reset row first)."""
    xy = np.asarray(block_xy, dtype=np.float64)
    ag = np.concatenate([xy, np.full((len(xy), 1), 0.42)], axis=1)
    return {"obs/achieved_goal": ag, "obs/forbidden_zone": np.tile(np.asarray(zone), (len(xy), 1)),
            "actions": np.zeros((len(xy) - 1, 4), dtype=np.float32)}


def test_zone_mask_follows_the_env_rule_on_a_real_episode():
    env = gym.make(AVOID)
    obs, _ = env.reset(seed=3)
    zone = obs["forbidden_zone"]
    path = [obs["achieved_goal"][:2], zone[:2] + [zone[2] * 0.5, 0.0], zone[:2] + [zone[2] * 2, 0.0]]
    it = item(path, zone)
    np.testing.assert_array_equal(zone_mask(it), env.unwrapped.in_zone(it["obs/achieved_goal"][1:]))
    assert zone_mask(it).tolist() == [True, False] and entered_zone(it)
    env.close()
    assert not entered_zone(item([[1.0, 0.5], [1.1, 0.5], [1.2, 0.6]]))
    assert not entered_zone({"obs/achieved_goal": np.zeros((3, 3))})  # no zone in the env: never entered


def test_the_filter_drops_episodes_that_entered_the_zone(monkeypatch):
    inside, outside = item([[1.0, 0.5], [1.3, 0.75], [1.5, 0.9]]), item([[1.0, 0.5], [1.1, 0.5], [1.2, 0.6]])

    def parent_generate(self, current, round_index):
        return Generated(items=[inside, outside, inside], rewards=[-3.0, -2.0, -4.0], generated=5,
                         extras={"succeeded": 3})

    monkeypatch.setattr(FetchEvolveDomain, "generate", parent_generate)
    domain = FetchAvoidEvolveDomain(FetchEvolveConfig(env_id=AVOID, base="planner:x", hindsight=False))
    assert isinstance(domain, EvolveDomain) and domain.kind == "fetch-avoid"
    gen = domain.generate(None, 1)
    assert gen.items == [outside] and gen.rewards == [-2.0] and gen.kept == 1 and gen.generated == 5
    assert gen.extras == {"succeeded": 3, "zone_entered": 2}


def test_safe_success_counts_successes_that_never_entered_the_zone():
    inside, outside = item([[1.0, 0.5], [1.3, 0.75], [1.5, 0.9]]), item([[1.0, 0.5], [1.1, 0.5], [1.2, 0.6]])
    rollouts = [Rollout(item=inside, success=True, ever=True, ret=-3.0, seed=0),
                Rollout(item=outside, success=True, ever=True, ret=-1.0, seed=1),
                Rollout(item=outside, success=False, ever=False, ret=-2.0, seed=2),
                Rollout(item=outside, success=True, ever=True, ret=-2.0, seed=3)]
    domain = FetchAvoidEvolveDomain(FetchEvolveConfig(env_id=AVOID, base="planner:x", eval_episodes=4))
    s = domain.zone_summary(rollouts)
    assert s["target_success_rate"] == 0.75 and s["safe_success_rate"] == 0.5 and s["zone_episodes"] == 0.25
    assert s["zone_steps"] == pytest.approx(0.5 / 4) and s["return_mean"] == -2.0 and s["episodes"] == 4


@pytest.mark.parametrize("flag, kind", [([], "fetch"), (["--avoid-zone"], "fetch-avoid")])
def test_the_cli_picks_the_avoid_domain_with_avoid_zone(monkeypatch, flag, kind):
    import adiff_env.evolve.loop as loop_module
    from adiff_env.cli.main import main

    seen = {}

    class FakeLoop:
        workdir = "w"

        def __init__(self, domain, **kwargs):
            seen["domain"] = domain

        def run(self):
            raise SystemExit(0)

    monkeypatch.setattr(loop_module, "EvolutionLoop", FakeLoop)
    with pytest.raises(SystemExit):
        main(["planner", "evolve", AVOID, "--from", "planner:fetch-push", "--no-hindsight", *flag])
    assert seen["domain"].kind == kind and seen["domain"].config.hindsight is False
