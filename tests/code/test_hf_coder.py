"""``coder:hf:PATH``: a Hugging Face masked LM as the coder, on a tiny random BERT built here.

The model folder is written by the test (a character-level WordLevel tokenizer over printable
ASCII + newline/tab, a 2-layer BertForMaskedLM of width 32, both ``save_pretrained``): nothing
is downloaded. A random model writes noise, so the end-to-end runs assert that the episode ran
and the program was judged, not that it passed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the 'hf' extra is not installed (uv sync --extra hf)")

from adiff_env.code.config import CoderActConfig, HFCoderConfig  # noqa: E402
from adiff_env.code.hf import HFCoder, HFDenoiser, assemble_program  # noqa: E402
from adiff_env.errors import ConfigError, MissingResourceError  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PROMPT = "Write a Python function shout. Return s in upper case.\n\ndef shout(s: str) -> str:\n"
ACT = CoderActConfig(samples=4, steps=8, temperature=1.0, smc_every=2, sandbox=None)
SMALL = HFCoderConfig(max_new_tokens=24)


def _tokenizer(mask: bool = True):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one token per character
    tok.decoder = decoders.Fuse()
    extra = {"mask_token": "[MASK]"} if mask else {}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                cls_token="[CLS]", sep_token="[SEP]", **extra)


def _write_model(folder, mask: bool = True):
    tok = _tokenizer(mask)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=512)
    transformers.BertForMaskedLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _write_model(tmp_path_factory.mktemp("tiny-mlm"))


@pytest.fixture(scope="module")
def coder(tiny_dir):
    return HFCoder.from_pretrained(tiny_dir, SMALL)


class _SpecialLover(torch.nn.Module):
    """The tiny model with the forbidden special tokens' logits raised by 50 (unless the sampler
    forbids them, every position decodes to one) and the end tokens' lowered by 50 (so the text
    runs the full length)."""

    def __init__(self, model, special_ids, stop_ids):
        super().__init__()
        self.inner, self.config = model, model.config
        self.special_ids, self.stop_ids = list(special_ids), list(stop_ids)

    def forward(self, input_ids, attention_mask=None):
        logits = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits.clone()
        logits[..., self.special_ids] += 50.0
        logits[..., self.stop_ids] -= 50.0
        return transformers.modeling_outputs.MaskedLMOutput(logits=logits)


def test_outputs_never_hold_mask_or_special_tokens(tiny_dir):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    model = transformers.AutoModelForMaskedLM.from_pretrained(tiny_dir, local_files_only=True)
    forbidden = [tok.mask_token_id, tok.cls_token_id, tok.unk_token_id]
    coder = HFCoder(_SpecialLover(model, forbidden, [tok.sep_token_id, tok.pad_token_id]), tok, SMALL)
    assert set(forbidden) <= set(coder.tokens.forbidden)
    programs, scores = coder.generate(PROMPT, 4, ACT, torch.Generator().manual_seed(1))
    assert len(programs) == len(scores) == 4
    for program in programs:
        assert program.startswith("def shout(s: str) -> str:\n")
        body = program[len("def shout(s: str) -> str:\n"):]
        assert len(body) == SMALL.max_new_tokens  # one character per slot: no special id was written
        assert not any(s in program for s in SPECIALS)


def test_decode_cuts_at_the_end_token_and_drops_specials(coder):
    tok = coder.tokens.tokenizer
    ids = tok("x = 1")["input_ids"]
    row = [tok.cls_token_id, *ids, tok.mask_token_id, tok.sep_token_id, *tok("y = 2")["input_ids"]]
    assert coder.tokens.decode(row) == "x = 1"
    assert tok.sep_token_id in coder.tokens.stop_ids and tok.mask_token_id in coder.tokens.forbidden


def test_stop_and_forbidden_ids_of_an_instruct_tokenizer():
    from types import SimpleNamespace

    from adiff_env.code.hf import HFTokenizerAdapter

    # GPT-style: bos = eos = pad = 1, mask 5, an end-of-turn special 7, no unk
    tok = SimpleNamespace(mask_token_id=5, eos_token_id=1, bos_token_id=1, pad_token_id=1, sep_token_id=None,
                          cls_token_id=None, unk_token_id=None, all_special_ids=[1, 5, 7], chat_template=None)
    adapter = HFTokenizerAdapter(tok)
    assert adapter.forbidden == (5,) and adapter.stop_ids == (1, 7)
    assert adapter.completion_ids([9, 5, 10, 7, 11]) == [9, 10]


def test_chat_template_wraps_the_prompt(tiny_dir):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    tok.chat_template = "{% for m in messages %}<u>{{ m['content'] }}</u>{% endfor %}{% if add_generation_prompt %}<a>{% endif %}"
    chat = HFCoder(transformers.AutoModelForMaskedLM.from_pretrained(tiny_dir, local_files_only=True), tok,
                   HFCoderConfig(chat=True, max_new_tokens=8))
    assert tok.decode(chat.tokens.encode_prompt("hi", 64)) == "<u>hi</u><a>"
    ids = chat.tokens.encode_prompt(PROMPT, 20)
    assert len(ids) == 20 and tok.decode(ids).endswith("str) -> str:\n</u><a>")  # the end (the signature) is kept


def test_fixed_seed_gives_the_same_programs(coder):
    a, sa = coder.generate(PROMPT, 4, ACT, torch.Generator().manual_seed(7))
    b, sb = coder.generate(PROMPT, 4, ACT, torch.Generator().manual_seed(7))
    c, _ = coder.generate(PROMPT, 4, ACT, torch.Generator().manual_seed(8))
    assert a == b and sa == sb
    assert a != c


def test_blocks_and_shifted_logits(tiny_dir, coder):
    tok = coder.tokens.tokenizer
    never_ends = _SpecialLover(coder.model, [], [tok.sep_token_id, tok.pad_token_id])
    blocks = HFCoder(never_ends, tok, HFCoderConfig(max_new_tokens=24, block_length=8, shift_logits=True))
    steps = []
    programs, _ = blocks.generate(PROMPT, 2, ACT, torch.Generator().manual_seed(0), on_step=lambda s, n: steps.append((s, n)))
    assert steps == [(i, 8) for i in range(1, 9)]  # 8 steps split 3/3/2 over three blocks
    assert all(len(p) == len("def shout(s: str) -> str:\n") + 24 for p in programs)  # every block decoded
    with pytest.raises(ValueError, match="fewer than the 3 blocks"):
        blocks.generate(PROMPT, 2, CoderActConfig(steps=2, sandbox=None))
    den = HFDenoiser(coder.model, blocks.tokens.mask_id, shift_logits=True)
    den.suffix = 5
    x, prompt = torch.full((2, 4), blocks.tokens.mask_id), torch.ones(2, 3, dtype=torch.long) * 10
    logits = den(x, prompt)
    full = coder.model(input_ids=torch.cat([prompt, x, torch.full((2, 5), blocks.tokens.mask_id)], 1)).logits
    assert logits.shape == (2, 4, full.shape[-1])
    torch.testing.assert_close(logits, full[:, 2:6])  # position i read from i - 1


def test_program_assembly():
    assert assemble_program(PROMPT, "    return s.upper()\n") == "def shout(s: str) -> str:\n    return s.upper()\n"
    full = "def shout(s):\n    return s.upper()\n"
    assert assemble_program(PROMPT, f"Here:\n```python\n{full}```\nDone.") == full
    humaneval = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
    assert assemble_program(humaneval, "def total(xs):\n    return sum(xs)\n").startswith("from typing import List\n")
    assert assemble_program(humaneval, "    return sum(xs)\n") == humaneval + "    return sum(xs)\n"


def test_clear_errors(tmp_path, tiny_dir, monkeypatch):
    with pytest.raises(MissingResourceError, match=r"coder:hf:.*missing: no such folder"):
        HFCoder.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingResourceError, match="no config.json"):
        HFCoder.from_pretrained(tmp_path / "empty")
    no_mask = _write_model(tmp_path / "no-mask", mask=False)
    with pytest.raises(ConfigError, match=r"no-mask: the tokenizer has no mask token.*mask_id=N"):
        HFCoder.from_pretrained(no_mask)
    assert HFCoder.from_pretrained(no_mask, HFCoderConfig(mask_id=4, max_new_tokens=8)).tokens.mask_id == 4
    with pytest.raises(ConfigError, match="outside the model's vocabulary"):
        HFCoder.from_pretrained(no_mask, HFCoderConfig(mask_id=10_000))
    with pytest.raises(ConfigError, match="chat template"):
        HFCoder.from_pretrained(tiny_dir, HFCoderConfig(chat=True))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            HFCoder.from_pretrained(tiny_dir, device="cuda")
    with pytest.raises(ValueError, match="block_length"):
        HFCoderConfig(max_new_tokens=24, block_length=5)
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the extra were not installed
    with pytest.raises(MissingResourceError, match=r"uv sync --extra hf.*pip install 'adiff-env\[hf\]'"):
        HFCoder.from_pretrained(tiny_dir)


_REMOTE_CONFIG = """from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny-remote"

    def __init__(self, vocab_size=102, hidden=16, **kw):
        self.vocab_size, self.hidden = vocab_size, hidden
        super().__init__(**kw)
"""
_REMOTE_MODEL = """import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.emb = torch.nn.Embedding(config.vocab_size, config.hidden)
        self.out = torch.nn.Linear(config.hidden, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        return MaskedLMOutput(logits=self.out(self.emb(input_ids)))
"""


def test_remote_code_runs_only_when_asked(tmp_path, monkeypatch):
    """A folder whose model class is its own Python (as LLaDA's and Dream's are), registered for
    ``AutoModel`` only: refused without ``trust_remote_code``, loaded through ``AutoModel`` with it."""
    from safetensors.torch import save_file

    # transformers copies remote code into its modules cache: a temp one, not the user's
    monkeypatch.setattr(transformers.dynamic_module_utils, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))

    folder = tmp_path / "remote"
    folder.mkdir()
    _tokenizer().save_pretrained(folder)
    (folder / "configuration_tiny.py").write_text(_REMOTE_CONFIG)
    (folder / "modeling_tiny.py").write_text(_REMOTE_MODEL)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tiny-remote", "architectures": ["TinyModel"], "vocab_size": 102, "hidden": 16,
        "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}}))
    g = torch.Generator().manual_seed(0)
    save_file({"emb.weight": torch.randn(102, 16, generator=g), "out.weight": torch.randn(102, 16, generator=g),
               "out.bias": torch.zeros(102)}, str(folder / "model.safetensors"))
    with pytest.raises(ConfigError, match=r"remote: the model's code lives in the folder.*trust_remote_code=1"):
        HFCoder.from_pretrained(folder)
    coder = HFCoder.from_pretrained(folder, HFCoderConfig(trust_remote_code=True, max_new_tokens=8))
    assert type(coder.model).__name__ == "TinyModel"
    programs, _ = coder.generate(PROMPT, 2, ACT, torch.Generator().manual_seed(0))
    assert len(programs) == 2 and all(p.startswith("def shout(s: str) -> str:\n") for p in programs)


def test_spec_checks_before_loading_and_imports_stay_lazy(tiny_dir):
    code = ("import sys, adiff_env; from adiff_env.agents import check_agent\n"
            f"check_agent({f'coder:hf:{tiny_dir}?dtype=bf16&samples=2&trust_remote_code=1'!r}, resolve=True)\n"
            "for bad in ('coder:hf:/no/such/dir', 'coder:default?dtype=bf16', 'coder:hf:/x?dtype=int8'):\n"
            "    try:\n        check_agent(bad, resolve=True)\n    except Exception as e:\n        print(type(e).__name__)\n"
            "print('transformers' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    # dtype on a non-hf coder is only refused when the agent is built (the check does not know the arg)
    assert out.split() == ["MissingResourceError", "UnknownNameError", "False", "False"]


def test_hf_options_refused_for_shipped_coder():
    from adiff_env.agents import make_agent

    with pytest.raises(ConfigError, match="dtype apply to coder:hf:PATH models only"):
        make_agent("coder:default?dtype=bf16", None)


def _evaluate_cli(capsys, tiny_dir, sandbox: str) -> dict:
    from adiff_env.cli.main import main

    spec = f"coder:hf:{tiny_dir}?samples=2&steps=4&max_new_tokens=24"
    assert main(["--threads", "1", "evaluate", "adiff/CodeTests-v0", "--agent", spec, "--episodes", "1", "--json",
                 "--tasks", "procedural:test:1", "--env-kwarg", f"sandbox={json.dumps(sandbox)}",
                 "--env-kwarg", "max_attempts=2"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _check_judged(result: dict) -> None:
    assert result["episodes"] == 1 and result["agent"].startswith("coder:hf:")
    assert 0.0 <= result["return_mean"] <= 1.0  # a share of hidden tests passed (0 for a random model)
    assert 1 <= result["episode_length_mean"] <= 2  # each step = one submitted program the judge scored
    assert "pass@1" in result and "pass@2" in result
    assert result["samples"] == 2 and result["sample_ms_median"] > 0
    assert result["sampling_rounds"] >= result["episode_length_mean"]


@pytest.mark.slow
def test_cli_evaluate_end_to_end_process_sandbox(tiny_dir, capsys):
    _check_judged(_evaluate_cli(capsys, tiny_dir, "process"))


@pytest.mark.slow
@pytest.mark.docker
def test_cli_evaluate_end_to_end_docker(docker_client, tiny_dir, capsys):
    _check_judged(_evaluate_cli(capsys, tiny_dir, "docker"))


@pytest.mark.slow
def test_cli_passk_takes_an_hf_coder(tiny_dir, capsys):
    from adiff_env.cli.main import main

    assert main(["--threads", "1", "code", "passk", "--agent", f"coder:hf:{tiny_dir}?max_new_tokens=16&steps=4",
                 "--per-family", "1", "--samples", "2", "--split", "test", "--sandbox", "process", "--per-task"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["checkpoint"] == f"coder:hf:{tiny_dir}" and res["tasks"] == len(res["per_task"]) >= 1
    assert all(r["n"] == 2 for r in res["per_task"]) and 0.0 <= res["pass@1"] <= 1.0
