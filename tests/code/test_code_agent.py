"""The code planner end to end on tiny models: training, overfitting, the agent in the env, CLI, evolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from adiff_env.baselines.ar_coder import ARCoder, ar_batch
from adiff_env.code.agent import CodePlanner
from adiff_env.code.coder import CoderActConfig, DiffusionCoder, load_coder
from adiff_env.code.corpus import CodeExample, save_corpus
from adiff_env.code.tasks.procedural import generate
from adiff_env.code.train import CoderTrainConfig, train_coder
from adiff_env.registry import ModelRegistry

TINY = dict(d_model=32, n_layers=1, n_heads=2, max_prompt_len=96, max_len=48, batch_size=8, lr=3e-3, warmup_steps=10,
            eval_every=0, checkpoint_every=0, ema_decay=0.0, min_count=1)


def _examples(families=("take_smallest", "count_greater"), seed=1000) -> list[CodeExample]:
    out = []
    for fam in families:
        task = generate(fam, seed)
        out.append(CodeExample(task.task_id, fam, task.prompt, task.solution, "reference"))
    return out


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A tiny diffusion coder and a tiny AR coder trained to memorise two programs."""
    home = tmp_path_factory.mktemp("home")
    reg = ModelRegistry(home, read_only_roots=[])
    corpus = _examples()
    torch.manual_seed(0)
    diff = train_coder(corpus, CoderTrainConfig(**TINY, steps=400), name="tiny", registry=reg, run_dir=home / "r1",
                       progress=False, act={"samples": 2, "steps": 8, "temperature": 0.0, "sandbox": None})
    ar = train_coder(corpus, CoderTrainConfig(**TINY, arch="ar", steps=300), name="tiny-ar", registry=reg,
                     run_dir=home / "r2", progress=False, act={"samples": 2, "temperature": 0.0, "sandbox": None})
    return reg, corpus, diff, ar


def test_config_errors():
    with pytest.raises(ValueError, match="arch"):
        CoderTrainConfig(arch="gpt")
    with pytest.raises(ValueError, match="samples"):
        CoderActConfig(samples=0)
    with pytest.raises(ValueError, match="Unknown CoderActConfig key 'temprature'"):
        CoderActConfig.from_dict({"temprature": 1.0})
    with pytest.raises(ValueError, match="empty"):
        train_coder([], CoderTrainConfig(**TINY, steps=1), progress=False)


def test_ar_batch_targets_only_program_tokens():
    tokens, pad, target = ar_batch([[10, 11, 12], [10]], [[20, 21], [22]], bos=2, eos=3, pad_id=0)
    assert tokens[0].tolist() == [10, 11, 12, 2, 20, 21, 3]
    assert tokens[1].tolist() == [10, 2, 22, 3, 0, 0, 0] and pad[1].tolist() == [False] * 4 + [True] * 3
    assert target[0].tolist() == [-100, -100, -100, 20, 21, 3, -100]
    assert target[1].tolist() == [-100, 22, 3, -100, -100, -100, -100]


@pytest.mark.parametrize("which", ["diffusion", "ar"])
def test_tiny_coder_overfits_and_reproduces_its_programs(overfit, which):
    reg, corpus, diff, ar = overfit
    ckpt = diff.checkpoint if which == "diffusion" else ar.checkpoint
    assert ckpt.metadata.kind == ("code-planner" if which == "diffusion" else "code-ar")
    assert (ckpt.path / "tokenizer.json").is_file()
    coder, _ = load_coder(str(ckpt.path), registry=reg)
    assert isinstance(coder, DiffusionCoder if which == "diffusion" else ARCoder)
    act = CoderActConfig(samples=2, steps=64, temperature=0.0, length_temperature=0.01, smc_every=0, sandbox=None)
    for ex in corpus:
        programs, scores = coder.generate(ex.prompt, 2, act, torch.Generator().manual_seed(0))
        assert [_ast(p) for p in programs] == [_ast(ex.program)] * 2, programs
        assert all(s <= 0 for s in scores)


def _ast(program: str) -> str:
    import ast

    return ast.dump(ast.parse(program))


def test_smc_sampling_keeps_the_particle_count(overfit):
    reg, corpus, diff, _ = overfit
    coder, _ = load_coder(str(diff.checkpoint.path), registry=reg)
    act = CoderActConfig(samples=6, steps=8, temperature=1.5, smc_every=2, smc_penalty=5.0, sandbox=None)
    programs, scores = coder.generate(corpus[0].prompt, 6, act, torch.Generator().manual_seed(1))
    assert len(programs) == len(scores) == 6


def test_agent_in_the_code_env_reports_pass_at_k(overfit):
    from adiff_env.evaluation import evaluate

    reg, corpus, diff, _ = overfit
    tasks = [generate("take_smallest", 1000), generate("count_greater", 1000)]
    result = evaluate("adiff/CodeTests-v0", f"coder:{diff.checkpoint.path}", episodes=2, seed=0,
                      env_kwargs={"tasks": tasks, "sandbox": "process", "max_attempts": 2},
                      agent_options={"sandbox": "env", "samples": 3})
    assert result.extra["pass@1"] == 1.0 and result.extra["pass@2"] == 1.0  # memorised programs
    assert result.extra["sample_ms_median"] > 0 and result.extra["samples"] == 3


def test_agent_uses_feedback_and_never_resubmits(overfit):
    from adiff_env.code.env import CodeTestsEnv

    reg, corpus, diff, _ = overfit
    coder, _ = load_coder(str(diff.checkpoint.path), registry=reg)
    # the memorised prompt with tests its memorised program fails: each attempt must differ, and
    # the failed tests shown in the feedback are collected for ranking the next candidates
    from adiff_env.code.tasks.base import Task

    odd = ("assert take_smallest([3, 2, 1]) == [3, 2, 1]",)  # scored, and shown as a public example
    task = Task("odd/take_smallest", corpus[0].prompt, odd, entry_point="take_smallest", public_tests=odd)
    env = CodeTestsEnv(tasks=[task], sandbox="process", max_attempts=3)
    agent = CodePlanner(coder, CoderActConfig(samples=4, steps=8, temperature=1.0, max_rounds=2), sandbox=env.sandbox)
    try:
        obs, _ = env.reset(seed=0)
        state, start, sent = None, True, []
        for _ in range(3):
            program, state = agent.predict(obs, state=state, episode_start=start)
            start = False
            sent.append(program)
            obs, reward, terminated, truncated, info = env.step(program)
            if terminated or truncated:
                break
        # a second, different program exists among the samples (the count_greater one): it goes next;
        # a program is sent again only when sampling found nothing untried in max_rounds rounds
        assert len(sent) == 3 and sent[1] != sent[0]
        assert state["revealed"] == ["assert take_smallest([3, 2, 1]) == [3, 2, 1]"]
    finally:
        agent.close()
        env.close()


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    reg = ModelRegistry(tmp_path / "home", read_only_roots=[])
    cfg = CoderTrainConfig(**{**TINY, "checkpoint_every": 5}, steps=10)
    first = train_coder(_examples(), cfg, name="r", registry=reg, run_dir=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "resume.pt").is_file() and first.steps == 10
    from adiff_env._provenance import git_commit

    record = json.loads((tmp_path / "run" / "run.json").read_text())  # the run record says what ran
    assert record["seed"] == cfg.seed and record["git_commit"] == git_commit() and record["config"]["steps"] == 10
    longer = CoderTrainConfig(**{**TINY, "checkpoint_every": 5}, steps=15)
    again = train_coder(_examples(), longer, name="r", registry=reg, run_dir=tmp_path / "run", resume=True, progress=False)
    assert again.steps == 15 and again.checkpoint.metadata.version == 2
    with pytest.raises(FileNotFoundError, match="resume"):
        train_coder(_examples(), cfg, registry=reg, run_dir=tmp_path / "nothing", resume=True, progress=False)


def test_cli_train_and_passk(tmp_path, monkeypatch, capsys):
    from adiff_env.cli.main import main

    corpus = tmp_path / "corpus.jsonl"
    save_corpus(_examples(), corpus)
    assert main(["code", "train", "--corpus", str(corpus), "--steps", "3", "--d-model", "32", "--layers", "1",
                 "--eval-tasks", "0", "--name", "cli-coder", "--quiet", "--sandbox", "process", "--run-dir", str(tmp_path / "run")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["checkpoint"] == "cli-coder@v1" and out["steps"] == 3
    assert main(["code", "passk", "--agent", "coder:cli-coder", "--per-family", "1", "--samples", "2",
                 "--split", "test", "--sandbox", "process", "--per-task"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = res["per_task"]
    assert res["tasks"] == len(rows) == 4 and all(r["n"] == 2 for r in rows)
    assert res["pass@1"] == pytest.approx(sum(r["correct"] / 2 for r in rows) / 4)  # unbiased estimator, n = 2
    assert res["pass@2"] == pytest.approx(sum(r["correct"] > 0 for r in rows) / 4)
    assert main(["code", "train", "--corpus", str(tmp_path / "missing.jsonl"), "--steps", "1"]) == 2


@pytest.mark.slow
def test_two_round_code_evolve_registers_only_improvements(overfit, tmp_path):
    from adiff_env.code.evolve import CodeEvolveConfig, CodeEvolveDomain
    from adiff_env.evolve.loop import EvolutionLoop

    reg, corpus, diff, _ = overfit
    path = tmp_path / "corpus.jsonl"
    save_corpus(corpus, path)
    base = reg.load("tiny")
    before = reg.versions("tiny")
    cfg = CodeEvolveConfig(base="coder:tiny", corpus=str(path), rounds=2, gen_per_family=1, samples=2,
                           finetune_steps=3, batch_size=4, eval_per_family=1, eval_samples=1,
                           min_improvement=1e9, sandbox="process", workdir=str(tmp_path / "evo"))
    domain = CodeEvolveDomain(cfg)
    state = EvolutionLoop(domain, registry=reg, progress=False, log=lambda s: None).run()
    assert len(state.rounds) == 2 and reg.versions("tiny") == before  # nothing beat the base by 1e9
    assert all(r.registered is None for r in state.rounds) and domain._sandbox is None  # closed after the run
    first = state.rounds[0]
    assert first.generated == 2 * 12 and first.extras["tasks"] == 12 and first.kept >= 1
    added = first.buffer_added
    assert added.get("rejected_quality", 0) == first.extras["distinct"] - first.kept  # min_reward 1: only passing ones
    assert sum(n for k, n in added.items() if k != "rejected_quality") == first.kept and first.buffer["size"] >= 1
    assert (tmp_path / "evo" / "score_by_round.png").is_file()
    on_disk = json.loads(Path(tmp_path / "evo" / "state.json").read_text())
    assert on_disk["domain"] == "code" and on_disk["config"]["gen_per_family"] == 1 and state.current == base.spec
    # a threshold that any score beats registers the round's candidate as a new version, with its tokenizer
    cfg2 = CodeEvolveConfig(**{**cfg.__dict__, "rounds": 1, "min_improvement": -1e9, "workdir": str(tmp_path / "evo2")})
    state2 = EvolutionLoop(CodeEvolveDomain(cfg2), registry=reg, progress=False, log=lambda s: None).run()
    assert state2.rounds[0].score is not None and state2.rounds[0].registered == f"tiny@v{before[-1] + 1}"
    new = reg.load(state2.current)
    assert new.metadata.parent == base.spec and (new.path / "tokenizer.json").is_file()
    assert new.metadata.scores["score"] == pytest.approx(100 * new.metadata.scores["pass@1"])


def test_program_distance_and_features_parse_each_buffer_item_once(monkeypatch):
    import adiff_env.code.evolve as mod
    from adiff_env.evolve.buffer import BufferConfig, TrajectoryBuffer

    a = json.dumps({"task_id": "t", "program": "def f(x):\n    return x\n"})
    b = json.dumps({"task_id": "t", "program": "def f(x):\n    return [y for y in x]\n"})
    assert mod.program_distance(a, a) == 0.0 and 0 < mod.program_distance(a, b) < 1
    assert mod.program_distance(a, json.dumps({"task_id": "u", "program": "def f(x):\n    return x\n"})) == 1.0
    parsed: list[str] = []
    real = mod.ast_tokens
    monkeypatch.setattr(mod, "ast_tokens", lambda program: parsed.append(program) or real(program))
    metric = mod.CodeEvolveDomain(mod.CodeEvolveConfig(base="coder:x")).buffer_metric()
    buf = TrajectoryBuffer(BufferConfig(min_reward=1.0, min_distance=0.05), metric.distance, features=metric.features)
    programs = [f"def f(x):\n    return x + {i}\n" if i % 2 else f"def f(x):\n    return [x] * {i}\n" for i in range(8)]
    items = [json.dumps({"task_id": f"t{i % 3}", "program": p}) for i, p in enumerate(programs)]
    buf.add_batch(items, [1.0] * len(items))
    buf.stats()
    assert len(buf) >= 3 and len(parsed) == len(items)  # one parse per item, not one per distance


def test_reference_agent_scores_one_and_rejects_non_code_envs():
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.agents import make_agent
    from adiff_env.evaluation import evaluate

    tasks = [generate("rotate_left", 0), generate("repeat_chars", 0)]
    result = evaluate("adiff/CodeTests-v0", "reference", episodes=2, env_kwargs={"tasks": tasks, "sandbox": "process"})
    assert result.success_rate == 1.0 and result.extra["pass@1"] == 1.0
    env = gym.make("adiff/PointMaze-UMaze-v0")
    try:
        with pytest.raises(ValueError, match="code env"):
            make_agent("reference", env)
    finally:
        env.close()


@pytest.mark.slow
def test_shipped_coder_default_solves_unseen_tasks_of_its_families():
    """``coder:default`` resolves to planners/pretrained/ with no training and writes working
    programs for unseen instances (seeds 300+, never in its corpus) of every training family."""
    from adiff_env.evaluation import evaluate

    result = evaluate("adiff/CodeTests-v0", "coder:default", episodes=12, seed=0,
                      env_kwargs={"tasks": "procedural:train:1:300", "sandbox": "process", "max_attempts": 2})
    assert result.extra["pass@2"] >= 0.75, result.returns
    assert result.extra["steps"] == 16 and result.extra["samples"] == 16


def test_coder_device_is_checked_before_any_work(tmp_path, capsys):
    """A device this machine lacks fails with a message naming it, before a corpus is read."""
    from adiff_env.cli.main import main
    from adiff_env.devices import check_device
    from adiff_env.errors import ConfigError

    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="banana"):
        check_device("banana")
    if torch.cuda.is_available():
        bad = f"cuda:{torch.cuda.device_count()}"
        with pytest.raises(ConfigError, match="CUDA device"):
            check_device(bad)
    else:
        bad = "cuda"
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            check_device(bad)
    assert main(["code", "train", "--corpus", str(tmp_path / "missing.jsonl"), "--steps", "1", "--device", bad]) == 2
    assert repr(bad) in capsys.readouterr().err  # the device, not the missing corpus, is what is reported
    if not torch.cuda.is_available():  # serve and code evolve check it the same way, before any work
        assert main(["serve", "--device", "cuda", "--port", "1"]) == 2
        assert main(["code", "evolve", "--from", "coder:default", "--corpus", str(tmp_path / "missing.jsonl"),
                     "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert err.count("no CUDA GPU") == 2


def test_coder_trains_on_an_explicit_device(tmp_path):
    """``device=`` moves the model and its batches; on the CPU it is the same run as the default."""
    reg = ModelRegistry(tmp_path / "home", read_only_roots=[])
    cfg = CoderTrainConfig(**TINY, steps=6)
    a = train_coder(_examples(), cfg, name="a", registry=reg, run_dir=tmp_path / "a", progress=False)
    b = train_coder(_examples(), cfg, name="b", registry=reg, run_dir=tmp_path / "b", progress=False, device="cpu")
    ta, tb = reg.load("a").tensors, reg.load("b").tensors
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    assert a.final_loss == pytest.approx(b.final_loss)
    if torch.cuda.is_available():  # on a GPU machine: same data order, float-close weights, CPU tensors saved
        c = train_coder(_examples(), cfg, name="c", registry=reg, run_dir=tmp_path / "c", progress=False, device="cuda")
        tc = reg.load("c").tensors
        assert all(tc[k].device.type == "cpu" for k in tc) and c.final_loss == pytest.approx(a.final_loss, rel=1e-2)
