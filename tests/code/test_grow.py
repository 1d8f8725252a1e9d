"""Growing a trained coder's vocabulary for a new corpus: old ids and rows kept, names copied."""

from __future__ import annotations

import pytest
import torch

from adiff_env.code.corpus import CodeExample
from adiff_env.code.grow import extend_tokenizer, grow_embeddings
from adiff_env.code.tasks.procedural import families, generate
from adiff_env.code.tokenizer import REF_BASE, CodeTokenizer
from adiff_env.code.train import CoderTrainConfig, train_coder
from adiff_env.registry import ModelRegistry

TINY = dict(d_model=32, n_layers=1, n_heads=2, max_prompt_len=96, max_len=48, batch_size=4, lr=3e-3, warmup_steps=2,
            eval_every=0, checkpoint_every=0, ema_decay=0.0, min_count=1)


def _examples(families) -> list[CodeExample]:
    out = []
    for fam in families:
        for seed in (1000, 1001):
            task = generate(fam, seed)
            out.append(CodeExample(task.task_id, fam, task.prompt, task.solution, "reference"))
    return out


def test_extend_tokenizer_keeps_old_ids_and_leaves_entry_points_to_pointers():
    old = _examples(["take_smallest"])
    new = _examples(["sum_square_odd", "reverse_then_lower"])
    tok = CodeTokenizer.train([e.prompt for e in old], [e.program for e in old], min_count=1, paired=True)
    grown = extend_tokenizer(tok, [e.prompt for e in new], [e.program for e in new], min_count=1,
                             exclude={e.family for e in new})
    assert grown.vocab[: len(tok.vocab)] == tok.vocab and grown.vocab_size > tok.vocab_size
    assert "square" in grown.vocab and "sum_square_odd" not in grown.vocab
    enc = grown.encode_prompt(new[0].prompt)
    ids = grown.encode_program(new[0].program, enc)
    assert REF_BASE + enc.refs.index("sum_square_odd") in ids  # the def line copies the prompt's name
    assert grown.decode_program(ids, enc).strip() == new[0].program.strip()


def test_grow_embeddings_keeps_rows_and_ties():
    w = torch.randn(10, 4)
    out = grow_embeddings({"tok.weight": w, "head.weight": w, "ln.weight": torch.ones(4)}, 10, 13,
                          torch.Generator().manual_seed(0))
    assert out["tok.weight"].shape == (13, 4) and torch.equal(out["tok.weight"][:10], w)
    assert torch.equal(out["tok.weight"], out["head.weight"]) and torch.equal(out["ln.weight"], torch.ones(4))
    with pytest.raises(ValueError, match=r"expected \[9, D\]"):
        grow_embeddings({"tok.weight": w}, 9, 12, torch.Generator())


def test_finetune_with_a_grown_vocabulary(tmp_path):
    reg = ModelRegistry(tmp_path / "home", read_only_roots=[])
    parent = train_coder(_examples(["take_smallest"]), CoderTrainConfig(**TINY, steps=2), name="p", registry=reg,
                         run_dir=tmp_path / "r1", progress=False).checkpoint
    child = train_coder(_examples(["take_smallest", "sum_square_odd"]), CoderTrainConfig(**TINY, steps=2), name="c",
                        registry=reg, run_dir=tmp_path / "r2", progress=False, init_from=parent, grow_vocab=True,
                        dataset="test corpus").checkpoint
    v_old, v_new = parent.config["model"]["vocab_size"], child.config["model"]["vocab_size"]
    assert v_new > v_old and child.tensors["tok.weight"].shape[0] == v_new
    assert child.metadata.parent == parent.spec and child.metadata.dataset == "test corpus"
    old_vocab = CodeTokenizer.load(parent.path / "tokenizer.json").vocab
    assert CodeTokenizer.load(child.path / "tokenizer.json").vocab[: len(old_vocab)] == old_vocab
    for key in ("blocks.0.qkv.weight", "pos_x.weight"):  # everything but the grown rows starts from the parent
        assert key in child.tensors
    with pytest.raises(ValueError, match="grow_vocab needs init_from"):
        train_coder(_examples(["take_smallest"]), CoderTrainConfig(**TINY, steps=1), registry=reg, progress=False,
                    run_dir=tmp_path / "r3", grow_vocab=True)


def test_cli_init_from_grows_and_passk_measures_the_compositional_split(tmp_path, capsys):
    import json

    from adiff_env.cli.main import main
    from adiff_env.code.corpus import save_corpus

    small = ["--d-model", "32", "--layers", "1", "--eval-tasks", "0", "--quiet", "--sandbox", "process"]
    save_corpus(_examples(["take_smallest"]), tmp_path / "old.jsonl")
    save_corpus(_examples(["take_smallest", "sum_square_odd"]), tmp_path / "new.jsonl")
    assert main(["code", "train", "--corpus", str(tmp_path / "old.jsonl"), "--steps", "2", "--name", "parent", *small,
                 "--run-dir", str(tmp_path / "r1")]) == 0
    assert main(["code", "train", "--corpus", str(tmp_path / "new.jsonl"), "--steps", "2", "--name", "child", *small,
                 "--init-from", "coder:parent", "--run-dir", str(tmp_path / "r2")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["checkpoint"] == "child@v1"
    assert main(["code", "passk", "--agent", "coder:child", "--split", "compose-test", "--per-family", "1",
                 "--start", "7", "--samples", "1", "--sandbox", "process"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["split"] == "compose-test" and res["tasks"] == len(families("compose-test"))
    assert main(["code", "train", "--corpus", str(tmp_path / "new.jsonl"), "--steps", "1", *small,
                 "--init-from", "coder:nothing-here"]) != 0
