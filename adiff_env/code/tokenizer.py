"""CodeTokenizer: a code-aware tokenizer, trained here, that makes copying from the prompt easy.

A small model cannot spell numbers and names it has rarely seen; this tokenizer turns them into
pointers instead. Prompt numbers (unsigned digit strings, distinct, first-appearance order)
become ``<num:i>`` and a program int literal equal to prompt number ``i`` becomes the same
``<num:i>``; identifier-like prompt words outside the vocabulary become ``<ref:j>`` and a
program NAME equal to one of them becomes the same ``<ref:j>`` (so the entry point of a
held-out family, e.g. ``rotate_left``, is copyable). A minus sign stays a separate ``-`` token
in both (``-5`` in a prompt, ``x - 5`` or ``x > -5`` in a program).

Ids: PAD=0, MASK=1, BOS=2, EOS=3, UNK=4, NEWLINE, INDENT, DEDENT, ``<num:0..31>``,
``<ref:0..31>``, ``<spell>``, ``</spell>``, one id per printable ASCII char (for spelling),
then the learned vocabulary (prompt words and program NAME/OP/NUMBER/STRING tokens seen
``>= min_count`` times). Programs are tokenized with :mod:`tokenize` (comments and blank lines
dropped); anything outside the vocabulary is spelled ``<spell> c h a r s </spell>``.
"""

from __future__ import annotations

import io
import json
import keyword
import os
import re
import tempfile
import token as tk
import tokenize
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PAD_ID, MASK_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3, 4
NEWLINE_ID, INDENT_ID, DEDENT_ID = 5, 6, 7
N_NUM = 32
N_REF = 32
NUM_BASE = 8
REF_BASE = NUM_BASE + N_NUM
SPELL_ID = REF_BASE + N_REF
END_SPELL_ID = SPELL_ID + 1
CHARS = "".join(chr(c) for c in range(32, 127))
CHAR_BASE = END_SPELL_ID + 1
VOCAB_BASE = CHAR_BASE + len(CHARS)
SPECIAL_NAMES = ("<pad>", "<mask>", "<bos>", "<eos>", "<unk>", "<newline>", "<indent>", "<dedent>")
PLACEHOLDER = "$?$"  # what MASK/UNK/broken spellings decode to: never valid Python
FORMAT_VERSION = 1

_PROMPT_RE = re.compile(r"\n|\d+|[A-Za-z_][A-Za-z0-9_]*|->|<=|>=|==|!=|\*\*|//|\S")
_OPEN, _CLOSE = "([{", ")]}"
_NO_SPACE_BEFORE = {")", "]", "}", ",", ":", ".", ";"}
_NO_SPACE_AFTER = {"(", "[", "{", ".", "~"}
_VALUE_KEYWORDS = {"True", "False", "None"}
_FSTRING_START = getattr(tk, "FSTRING_START", None)
_FSTRING_END = getattr(tk, "FSTRING_END", None)


@dataclass
class EncodedPrompt:
    """A prompt as ids plus what its pointers point at: ``numbers[i]`` for ``<num:i>``,
    ``refs[j]`` for ``<ref:j>``."""

    ids: list[int]
    numbers: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


def _prompt_words(prompt: str) -> list[str]:
    return _PROMPT_RE.findall(prompt)


def program_tokens(program: str) -> list[tuple[int, str]]:
    """``(token type, text)`` of a program: NAME/OP/NUMBER/STRING plus NEWLINE/INDENT/DEDENT.

    Comments, blank lines and the end marker are dropped. Raises ValueError if the text does
    not tokenize (unterminated string, bad indentation, ...).
    """
    if not isinstance(program, str):
        raise TypeError(f"program must be a str, got {type(program).__name__}.")
    out: list[tuple[int, str]] = []
    lines = program.splitlines(keepends=True)
    depth, fstart = 0, (0, 0)
    try:
        for t in tokenize.generate_tokens(io.StringIO(program).readline):
            if _FSTRING_START is not None and t.type == _FSTRING_START:  # Python >= 3.12 splits f-strings
                fstart = t.start if depth == 0 else fstart
                depth += 1
                continue
            if depth:
                if t.type == _FSTRING_END:
                    depth -= 1
                    if depth == 0:
                        out.append((tk.STRING, _source(lines, fstart, t.end)))
                continue
            if t.type in (tk.COMMENT, tk.NL, tk.ENDMARKER, tk.ENCODING):
                continue
            if t.type == tk.ERRORTOKEN:
                if t.string.strip():
                    raise ValueError(f"unexpected character {t.string!r} at line {t.start[0]}")
                continue
            out.append((t.type, t.string))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ValueError(f"Program does not tokenize ({exc}); program was:\n{program[:300]}") from None
    except ValueError as exc:
        raise ValueError(f"Program does not tokenize ({exc}); program was:\n{program[:300]}") from None
    if out and out[-1][0] != tk.NEWLINE and out[-1][0] != tk.DEDENT:
        out.append((tk.NEWLINE, "\n"))
    return out


def _source(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """Source text between two tokenize positions ((row from 1, col), end exclusive)."""
    if start[0] == end[0]:
        return lines[start[0] - 1][start[1]:end[1]]
    return lines[start[0] - 1][start[1]:] + "".join(lines[start[0]:end[0] - 1]) + lines[end[0] - 1][:end[1]]


def _kind(text: str) -> str:
    if text.isidentifier():
        return "name"
    if text[:1].isdigit() or (text[:1] == "." and text[1:2].isdigit()):
        return "number"
    if re.match(r"^[rRbBuUfF]{0,2}['\"]", text):
        return "string"
    return "op"


def _single_token(text: str) -> bool:
    """True if ``text`` is exactly one NAME, NUMBER, STRING or OP token (a safe spelling)."""
    if text in tk.EXACT_TOKEN_TYPES:  # operators and brackets ("{" alone does not tokenize)
        return True
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tk.NEWLINE, tk.NL, tk.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return False
    return len(toks) == 1 and toks[0].type in (tk.NAME, tk.NUMBER, tk.STRING, tk.OP) and toks[0].string == text


class CodeTokenizer:
    """See the module docstring. Build with :meth:`train`; ``vocab`` is the learned part."""

    pad_id, mask_id, bos_id, eos_id, unk_id = PAD_ID, MASK_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, vocab: Sequence[str] = (), *, max_prompt_len: int = 128) -> None:
        if max_prompt_len < 1:
            raise ValueError(f"max_prompt_len must be >= 1, got {max_prompt_len}.")
        self.vocab = list(vocab)
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("CodeTokenizer vocab has duplicate entries; each token must appear once.")
        self.max_prompt_len = max_prompt_len
        self._ids = {t: VOCAB_BASE + i for i, t in enumerate(self.vocab)}

    # ---- building -----------------------------------------------------------------------

    @classmethod
    def train(cls, prompts: Iterable[str], programs: Iterable[str], min_count: int = 2, *,
              paired: bool = False, max_prompt_len: int = 128) -> CodeTokenizer:
        """Learn the vocabulary: prompt words (numbers excluded: they are pointers) and program
        NAME/OP/NUMBER/STRING tokens seen at least ``min_count`` times.

        ``paired=True``: ``prompts[i]`` belongs to ``programs[i]``; program ints that would be
        pointers into their own prompt are then not counted (so the model is not
        tempted to write a common ``7`` instead of copying ``<num:i>``).
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}.")
        prompts, programs = list(prompts), list(programs)
        if paired and len(prompts) != len(programs):
            raise ValueError(f"paired=True needs as many prompts as programs, got {len(prompts)} and {len(programs)}.")
        counts: Counter[str] = Counter()
        for p in prompts:
            counts.update(w for w in _prompt_words(p) if w != "\n" and not w.isdigit())
        for i, program in enumerate(programs):
            numbers = {w for w in _prompt_words(prompts[i]) if w.isdigit()} if paired else set()
            for ttype, text in program_tokens(program):
                if ttype in (tk.NAME, tk.OP, tk.NUMBER, tk.STRING) and text not in numbers:
                    counts[text] += 1
        vocab = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(vocab, max_prompt_len=max_prompt_len)

    # ---- ids ----------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return VOCAB_BASE + len(self.vocab)

    def id_to_token(self, i: int) -> str:
        """Readable name of id ``i`` (``<num:3>``, ``<c:a>`` for spelling chars, the vocab text)."""
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"token id {i} out of range [0, {self.vocab_size}).")
        if i < NUM_BASE:
            return SPECIAL_NAMES[i]
        if i < REF_BASE:
            return f"<num:{i - NUM_BASE}>"
        if i < SPELL_ID:
            return f"<ref:{i - REF_BASE}>"
        if i == SPELL_ID:
            return "<spell>"
        if i == END_SPELL_ID:
            return "</spell>"
        if i < VOCAB_BASE:
            return f"<c:{CHARS[i - CHAR_BASE]}>"
        return self.vocab[i - VOCAB_BASE]

    def token_to_id(self, text: str) -> int:
        """Vocab id of ``text``, or UNK."""
        return self._ids.get(text, UNK_ID)

    # ---- encoding -----------------------------------------------------------------------

    def encode_prompt(self, prompt: str) -> EncodedPrompt:
        """Prompt -> ids (``max_prompt_len`` at most) with ``<num:i>`` / ``<ref:j>`` pointers."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}.")
        ids: list[int] = []
        numbers: list[str] = []
        refs: list[str] = []
        for w in _prompt_words(prompt):
            if len(ids) >= self.max_prompt_len:
                break
            if w == "\n":
                if ids and ids[-1] != NEWLINE_ID:
                    ids.append(NEWLINE_ID)
            elif w.isdigit():
                w = str(int(w)) if w.lstrip("0") else "0"
                if w not in numbers and len(numbers) < N_NUM:
                    numbers.append(w)
                ids.append(NUM_BASE + numbers.index(w) if w in numbers else UNK_ID)
            elif w in self._ids:
                ids.append(self._ids[w])
            elif w.isidentifier():
                if w not in refs and len(refs) < N_REF:
                    refs.append(w)
                ids.append(REF_BASE + refs.index(w) if w in refs else UNK_ID)
            else:
                ids.append(UNK_ID)
        return EncodedPrompt(ids, numbers, refs)

    def _spell(self, text: str) -> list[int]:
        bad = [c for c in text if c not in CHARS]
        if bad:
            raise ValueError(f"Cannot spell {text!r}: character {bad[0]!r} is not printable ASCII; "
                             f"only chars {CHARS[:1]!r}..{CHARS[-1:]!r} can be spelled.")
        return [SPELL_ID] + [CHAR_BASE + CHARS.index(c) for c in text] + [END_SPELL_ID]

    def encode_program(self, program: str, prompt: EncodedPrompt) -> list[int]:
        """Program -> ids (no BOS/EOS; trailing NEWLINE/DEDENTs dropped, the decoder needs none).
        ValueError if it does not tokenize or holds a rare token that cannot be spelled."""
        out: list[int] = []
        for ttype, text in program_tokens(program):
            if ttype == tk.NEWLINE:
                out.append(NEWLINE_ID)
            elif ttype == tk.INDENT:
                out.append(INDENT_ID)
            elif ttype == tk.DEDENT:
                out.append(DEDENT_ID)
            elif ttype == tk.NUMBER and text in prompt.numbers:
                out.append(NUM_BASE + prompt.numbers.index(text))
            elif ttype == tk.NAME and text in prompt.refs:
                out.append(REF_BASE + prompt.refs.index(text))
            elif text in self._ids:
                out.append(self._ids[text])
            else:
                out.extend(self._spell(text))
        while out and out[-1] in (NEWLINE_ID, DEDENT_ID):  # the decoder closes the last line itself
            out.pop()
        return out

    # ---- decoding -----------------------------------------------------------------------

    def _texts(self, ids: Sequence[int], prompt: EncodedPrompt) -> list[str]:
        """ids -> token texts, NEWLINE/INDENT/DEDENT kept as the special names."""
        out: list[str] = []
        spelling: list[str] | None = None
        for raw in ids:
            i = int(raw)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} out of range [0, {self.vocab_size}).")
            if spelling is not None:
                if CHAR_BASE <= i < VOCAB_BASE:
                    spelling.append(CHARS[i - CHAR_BASE])
                    continue
                text = "".join(spelling)
                out.append(text if i == END_SPELL_ID and _single_token(text) else PLACEHOLDER)
                spelling = None
                if i == END_SPELL_ID:
                    continue
            if i in (PAD_ID, EOS_ID, BOS_ID):
                continue
            if i in (MASK_ID, UNK_ID, END_SPELL_ID) or CHAR_BASE <= i < VOCAB_BASE:
                out.append(PLACEHOLDER)
            elif i in (NEWLINE_ID, INDENT_ID, DEDENT_ID):
                out.append(SPECIAL_NAMES[i])
            elif i < REF_BASE:
                k = i - NUM_BASE
                out.append(prompt.numbers[k] if k < len(prompt.numbers) else PLACEHOLDER)
            elif i < SPELL_ID:
                k = i - REF_BASE
                out.append(prompt.refs[k] if k < len(prompt.refs) else PLACEHOLDER)
            elif i == SPELL_ID:
                spelling = []
            else:
                out.append(self.vocab[i - VOCAB_BASE])
        if spelling is not None:
            out.append(PLACEHOLDER)
        return out

    def decode_program(self, ids: Sequence[int], prompt: EncodedPrompt) -> str:
        """ids -> Python source with 4-space indents. PAD/BOS/EOS are ignored; MASK, UNK, a
        pointer past the prompt's numbers/refs or a broken spelling decode to ``$?$`` so the
        program fails to parse instead of being silently valid."""
        lines: list[str] = []
        level = 0
        line: list[str] = []
        for text in self._texts(ids, prompt) + ["<newline>"]:
            if text == "<newline>":
                if line:
                    lines.append("    " * level + _join(line))
                    line = []
            elif text == "<indent>":
                level += 1
            elif text == "<dedent>":
                level = max(0, level - 1)
            else:
                line.append(text)
        return "\n".join(lines) + "\n" if lines else ""

    # ---- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": "adiff-code-tokenizer", "version": FORMAT_VERSION, "vocab": list(self.vocab),
                "max_prompt_len": self.max_prompt_len, "n_num": N_NUM, "n_ref": N_REF, "chars": CHARS}

    @classmethod
    def from_dict(cls, data: dict) -> CodeTokenizer:
        if not isinstance(data, dict) or data.get("format") != "adiff-code-tokenizer":
            raise ValueError("Not a CodeTokenizer dict: expected format 'adiff-code-tokenizer', got "
                             f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}.")
        if data.get("version") != FORMAT_VERSION or data.get("n_num") != N_NUM or data.get("n_ref") != N_REF \
                or data.get("chars") != CHARS:
            raise ValueError(f"CodeTokenizer file has version {data.get('version')!r} / layout that this code "
                             f"(version {FORMAT_VERSION}) cannot read; retrain the tokenizer.")
        return cls(data["vocab"], max_prompt_len=int(data["max_prompt_len"]))

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (temp file in the same folder, then ``os.replace``)."""
        return _atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> CodeTokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No tokenizer file at {path}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"Tokenizer file {path} is not valid JSON: {exc}.") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodeTokenizer) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _unary(prev: str | None) -> bool:
    """Whether a ``-``/``+``/``*``/``**`` after ``prev`` is a prefix operator."""
    if prev is None:
        return True
    if prev in _CLOSE:
        return False
    kind = _kind(prev)
    if kind == "op":
        return True
    return kind == "name" and keyword.iskeyword(prev) and prev not in _VALUE_KEYWORDS


def _join(tokens: list[str]) -> str:
    """Join one logical line's tokens with readable spacing (PEP 8-like)."""
    out = ""
    stack: list[str] = []  # open brackets
    prev: str | None = None
    prev_unary = False
    lambdas = 0  # lambdas whose ':' has not come yet
    slice_colon = False  # prev is a ':' inside [] that is not a lambda's
    for i, t in enumerate(tokens):
        space = prev is not None
        if prev is None:
            space = False
        elif prev_unary:
            space = False
        elif t in _NO_SPACE_BEFORE:
            space = t == "." and _kind(prev) == "number"  # `1 .real`, not a float
        elif prev in _NO_SPACE_AFTER:
            space = False
        elif slice_colon:
            space = False  # slices: xs[1:k]
        elif t in "([" and (prev in _CLOSE or (_kind(prev) in ("name", "string") and not keyword.iskeyword(prev)) or
                            prev in _VALUE_KEYWORDS):
            space = False  # calls and subscripts
        elif (t == "=" or prev == "=") and stack and stack[-1] == "(":
            space = False  # keyword arguments / defaults
        elif prev == "@" and i == 1:
            space = False  # decorators
        out += (" " if space else "") + t
        prev_unary = t in ("-", "+", "~", "*", "**") and _unary(prev) and not (t in ("*", "**") and prev is None)
        slice_colon = t == ":" and not lambdas and bool(stack) and stack[-1] == "["
        lambdas += (t == "lambda") - (t == ":" and lambdas > 0)
        if t in _OPEN:
            stack.append(t)
        elif t in _CLOSE and stack:
            stack.pop()
        prev = t
    return out
