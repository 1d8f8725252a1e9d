"""CodeTokenizer: round trips over real task programs, pointers, placeholders, persistence."""

from __future__ import annotations

import ast
import json
import re

import pytest

from adiff_env.code.corpus import task_programs
from adiff_env.code.tasks import families, generate
from adiff_env.code.tokenizer import (
    BOS_ID,
    EOS_ID,
    MASK_ID,
    NUM_BASE,
    PAD_ID,
    REF_BASE,
    SPELL_ID,
    UNK_ID,
    VOCAB_BASE,
    CodeTokenizer,
    EncodedPrompt,
)

SEEDS = (1000, 1001, 1002)


def _pairs(split: str, seeds=SEEDS) -> list[tuple[str, str]]:
    out = []
    for fam in families(split):
        for seed in seeds:
            task = generate(fam.name, seed)
            out += [(task.prompt, program) for _, program in task_programs(task)]
    return out


@pytest.fixture(scope="module")
def train_pairs():
    return _pairs("train")


@pytest.fixture(scope="module")
def tok(train_pairs):
    return CodeTokenizer.train([p for p, _ in train_pairs], [q for _, q in train_pairs], paired=True)


def _same_ast(a: str, b: str) -> bool:
    return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))


def _round_trip(tok: CodeTokenizer, prompt: str, program: str) -> str:
    ep = tok.encode_prompt(prompt)
    return tok.decode_program(tok.encode_program(program, ep), ep)


def test_layout_and_vocab(tok):
    assert (PAD_ID, MASK_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == VOCAB_BASE + len(tok.vocab)
    assert tok.id_to_token(NUM_BASE + 3) == "<num:3>" and tok.id_to_token(REF_BASE) == "<ref:0>"
    assert tok.id_to_token(MASK_ID) == "<mask>" and tok.id_to_token(SPELL_ID) == "<spell>"
    for common in ("def", "return", "xs", "(", "''", "' '", "->", "len", "take_smallest"):
        assert tok.token_to_id(common) >= VOCAB_BASE, common
    assert tok.token_to_id("no_such_token_here") == UNK_ID
    with pytest.raises(ValueError, match="out of range"):
        tok.id_to_token(tok.vocab_size)


def test_round_trip_every_train_program(tok, train_pairs):
    for prompt, program in train_pairs:
        decoded = _round_trip(tok, prompt, program)
        assert _same_ast(decoded, program), (program, decoded)


def test_round_trip_held_out_families(tok):
    pairs = _pairs("test", seeds=(1000, 1001))
    assert pairs
    for prompt, program in pairs:
        decoded = _round_trip(tok, prompt, program)
        assert _same_ast(decoded, program), (program, decoded)


def test_decoded_text_is_readable(tok):
    program = ("def f(values: list[int], k: int = 3) -> list[int]:\n    out = []\n"
               "    for i, v in enumerate(values, start=1):\n        if v > -5 and i % 2 == 0:\n"
               "            out.append(v - 5)\n    return out[:k] + [' '.join(['a']), '']\n")
    decoded = _round_trip(tok, "Write f.", program)
    assert _same_ast(decoded, program)
    assert "def f(values: list[int], k: int=3) -> list[int]:" in decoded
    assert "    for i, v in enumerate(values, start=1):\n" in decoded
    assert "        if v > -5 and i % 2 == 0:\n" in decoded
    assert "            out.append(v - 5)\n" in decoded
    assert "    return out[:k] + [' '.join(['a']), '']\n" in decoded


def test_numbers_are_pointers_shared_by_prompt_and_program(tok):
    task = generate("take_smallest", 1003)
    k = task.meta["params"]["k"]
    ep = tok.encode_prompt(task.prompt)
    i = ep.numbers.index(str(k))
    assert NUM_BASE + i in ep.ids
    ids = tok.encode_program(task.solution, ep)
    assert NUM_BASE + i in ids
    # the same ids under a prompt that says another K decode to that K and nothing else changes
    other = str(k + 11)
    ep2 = tok.encode_prompt(re.sub(rf"\b{k}\b", other, task.prompt))
    assert ep2.ids == ep.ids and ep2.numbers[i] == other
    assert tok.decode_program(ids, ep2) == tok.decode_program(ids, ep).replace(f":{k}]", f":{other}]")
    assert f"[:{other}]" in tok.decode_program(ids, ep2)


def test_negative_numbers(tok):
    ep = tok.encode_prompt("Return values greater than -7.")
    assert ep.numbers == ["7"]
    ids = tok.encode_program("def f(xs):\n    return [x - 7 for x in xs if x > -7]\n", ep)
    assert ids.count(NUM_BASE) == 2
    assert "[x - 7 for x in xs if x > -7]" in tok.decode_program(ids, ep)


def test_held_out_entry_point_is_a_ref(tok):
    task = generate("rotate_left", 1000)
    ep = tok.encode_prompt(task.prompt)
    assert ep.refs[0] == "rotate_left" and ep.ids[:5].count(REF_BASE) == 1
    ids = tok.encode_program(task.solution, ep)
    assert ids[1] == REF_BASE
    assert tok.decode_program(ids, ep).startswith("def rotate_left(xs: list[int]) -> list[int]:\n")


def test_rare_names_are_spelled(tok):
    ep = tok.encode_prompt("Write f.")
    ids = tok.encode_program("zqxj_name = 123456789\n", ep)
    assert ids[0] == SPELL_ID and ids.count(SPELL_ID) == 2
    assert tok.decode_program(ids, ep) == "zqxj_name = 123456789\n"


def test_mask_and_unk_never_decode_to_valid_python(tok):
    task = generate("count_greater", 1000)
    ep = tok.encode_prompt(task.prompt)
    ids = tok.encode_program(task.solution, ep)
    assert _same_ast(tok.decode_program([BOS_ID] + ids + [EOS_ID, PAD_ID, PAD_ID], ep), task.solution)
    for bad in (MASK_ID, UNK_ID):
        for pos in range(len(ids)):
            broken = ids[:pos] + [bad] + ids[pos + 1:]
            with pytest.raises(SyntaxError):
                ast.parse(tok.decode_program(broken, ep))
    spelled = tok.encode_program("zz_top = 1\n", ep)
    for broken in (spelled[:2] + [MASK_ID] + spelled[2:], spelled[:3]):  # mask inside / unclosed spelling
        with pytest.raises(SyntaxError):
            ast.parse(tok.decode_program(broken, ep))
    with pytest.raises(SyntaxError):  # a pointer past the prompt's numbers
        ast.parse(tok.decode_program(tok.encode_program("x = 1\n", ep)[:2] + [NUM_BASE + 31, 5], ep))


def test_bad_input_errors(tok):
    ep = tok.encode_prompt("Write f.")
    for text in ("def f(:\n    '''never closed\n", "x = 'open\n", "def f():\n        a\n    b\n"):
        with pytest.raises(ValueError, match="does not tokenize"):
            tok.encode_program(text, ep)
    with pytest.raises(ValueError, match="printable ASCII"):
        tok.encode_program("s = 'h\u00e9llo_rare'\n", ep)
    with pytest.raises(TypeError):
        tok.encode_prompt(3)
    with pytest.raises(ValueError, match="out of range"):
        tok.decode_program([10**6], ep)
    with pytest.raises(ValueError, match="min_count"):
        CodeTokenizer.train(["a"], ["x = 1\n"], min_count=0)
    with pytest.raises(ValueError, match="as many prompts"):
        CodeTokenizer.train(["a"], [], paired=True)


def test_prompt_truncation_and_pointer_limits():
    tok = CodeTokenizer(["a"], max_prompt_len=40)
    prompt = " ".join(str(n) for n in range(100))
    ep = tok.encode_prompt(prompt)
    assert len(ep.ids) == 40 and len(ep.numbers) == 32 and ep.ids[33:] == [UNK_ID] * 7
    ep = tok.encode_prompt(" ".join(f"w{n}" for n in range(40)))
    assert len(ep.refs) == 32 and ep.ids[-1] == UNK_ID


def test_save_load_round_trip(tok, tmp_path):
    path = tok.save(tmp_path / "sub" / "tokenizer.json")
    loaded = CodeTokenizer.load(path)
    assert loaded == tok and loaded.vocab_size == tok.vocab_size
    assert CodeTokenizer.from_dict(tok.to_dict()) == tok
    assert not list((tmp_path / "sub").glob("*.tmp"))
    with pytest.raises(FileNotFoundError):
        CodeTokenizer.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        CodeTokenizer.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="Not a CodeTokenizer"):
        CodeTokenizer.load(tmp_path / "other.json")
    data = tok.to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="retrain"):
        CodeTokenizer.from_dict(data)
    with pytest.raises(ValueError, match="duplicate"):
        CodeTokenizer(["a", "a"])


def test_encoded_prompt_is_plain_data(tok):
    ep = tok.encode_prompt("Return the 5 smallest of xs.\n\ndef f(xs):\n")
    assert isinstance(ep, EncodedPrompt) and ep.numbers == ["5"]
    assert all(isinstance(i, int) for i in ep.ids)


ASSORTED = [
    "import math\n\n\n@staticmethod\ndef g(*args, **kwargs):  # a comment\n    '''Doc.'''\n    return {'a': 1, **kwargs}\n",
    "def h(n: int) -> str:\n    s = f'{n:>4}-{n!r}'\n    t = (1,)\n    return s if n >= 0 else -n * 'x' + str(2 ** -1)\n",
    "class A:\n    def m(self, x=None):\n        try:\n            return [lambda: x, x[1:2], x[::2], ~x]\n"
    "        except (TypeError, ValueError) as e:\n            raise e from None\n        finally:\n            pass\n",
    "total = sum(\n    v for v in range(10)\n)\nwhile total > 0:\n    total -= 1\nelse:\n    total = 1.5e3 + 0x1f\n",
    "x = 1 .real\ny = not x\nz = x if x is not None else (yield)\n",
]


@pytest.mark.parametrize("program", ASSORTED)
def test_round_trip_assorted_syntax(tok, program):
    decoded = _round_trip(tok, "Write a function.", program)
    assert _same_ast(decoded, program), decoded
    assert "#" not in decoded and "\n\n" not in decoded  # comments and blank lines dropped


def test_trailing_newline_and_dedents_are_not_encoded(tok):
    ep = tok.encode_prompt("Write f.")
    ids = tok.encode_program("def f():\n    if 1:\n        return 2\n", ep)
    assert ids[-1] not in (5, 7)
