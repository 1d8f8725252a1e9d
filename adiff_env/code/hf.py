"""Bring your own masked-diffusion LM: a Hugging Face ``transformers`` model as the coder.

``coder:hf:PATH`` loads a masked LM and its tokenizer from the local folder ``PATH`` (never the
hub: ``local_files_only=True``; the folder's own Python runs only with
``?trust_remote_code=1``) and acts exactly like the shipped coder: the engine's
:class:`~adiff_env.diffusion.discrete.MaskedSampler` unmasks a completion of
``max_new_tokens`` masked slots after the prompt (confidence or random order, temperature,
ReMDM re-masking), sequential Monte Carlo resamples particles whose predicted program does not
parse or lacks the entry point, and :class:`~adiff_env.code.agent.CodePlanner` ranks the
candidates (static checks, behaviour votes in the sandbox, the env's feedback).

- :class:`HFDenoiser` maps the sampler's ``model(x_t, prompt, x_pad, prompt_pad) -> [B, L, V]``
  onto the HF model: ``input_ids = [prompt | x_t | future masks]`` (``x_t`` holds the
  tokenizer's mask id where undecided), logits of the ``x_t`` positions (shifted by one for
  models adapted from autoregressive ones, ``shift_logits``).
- :class:`HFTokenizerAdapter` encodes the prompt (optionally through the chat template) and
  decodes a completion: cut at the first end-of-sequence id, special tokens dropped, markdown
  fences removed, then :func:`assemble_program` joins it to the prompt's code header.
- :class:`HFCoder` has :class:`~adiff_env.code.coder.DiffusionCoder`'s ``generate`` signature,
  so the agent, ``adiff evaluate`` and pass@k take it as they are.

The completion has a fixed length (no length head, as in LLaDA / Dream): the model ends the
text by filling in its end-of-sequence token. ``transformers`` is imported only when a
``coder:hf`` agent is built (the optional extra ``adiff-env[hf]``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import torch

from adiff_env.code import select as sel
from adiff_env.code.config import CoderActConfig, HFCoderConfig, check_model_dir
from adiff_env.errors import ConfigError, MissingResourceError

INSTALL_HINT = ("coder:hf needs the optional 'hf' extra (Hugging Face transformers), which is not installed; "
                "install it with: uv sync --extra hf (or pip install 'adiff-env[hf]').")
_HEADER_RE = re.compile(r"^(?:from\s+\S+\s+import\s|import\s|def\s|async\s+def\s|class\s|@)", re.M)
_FENCE_RE = re.compile(r"```[A-Za-z0-9_+-]*\n(.*?)(?:```|\Z)", re.S)


def import_transformers() -> Any:
    """The ``transformers`` module, or a :class:`MissingResourceError` naming the install command."""
    try:
        import transformers
    except ImportError:
        raise MissingResourceError(INSTALL_HINT) from None
    return transformers


def code_header(prompt: str) -> str:
    """The prompt from its first line of code (``import``, ``def``, ``class``, a decorator) to the end."""
    m = _HEADER_RE.search(prompt)
    return prompt[m.start():] if m else ""


def assemble_program(prompt: str, completion: str) -> str:
    """The program a completion stands for: the completion alone (plus the prompt's imports)
    when it defines the prompt's entry point itself, else the prompt's code header followed by
    the completion (a body continuing the ``def`` line). Markdown fences are removed."""
    fenced = _FENCE_RE.search(completion)
    text = fenced.group(1) if fenced else completion
    header = code_header(prompt)
    entry = sel.entry_point_of(prompt)
    if entry is not None and sel.static_check(text, entry):
        imports = [ln for ln in header.splitlines() if re.match(r"(?:from\s+\S+\s+)?import\s", ln) and ln not in text]
        return "\n".join([*imports, text]) if imports else text
    if header and not header.endswith("\n"):
        header += "\n"
    return header + text


class HFTokenizerAdapter:
    """Prompt text -> ids and completion ids -> text for an HF tokenizer (module doc).

    ``mask_id``: the tokenizer's mask token (or the ``mask_id`` option); ``forbidden``: ids the
    sampler never writes (mask, unk, and bos/cls unless the tokenizer also uses them as its end
    token); ``stop_ids``: every other special id (eos, sep, pad, an end-of-turn token): the
    completion ends at the first one."""

    def __init__(self, tokenizer: Any, path: str = "", mask_id: int | None = None, chat: bool = False) -> None:
        self.tokenizer, self.chat = tokenizer, bool(chat)
        mid = mask_id if mask_id is not None else getattr(tokenizer, "mask_token_id", None)
        if mid is None:
            raise ConfigError(f"coder:hf:{path}: the tokenizer has no mask token (tokenizer.mask_token is None), so it "
                              "cannot act as a masked-diffusion denoiser. Use a masked LM, or pass the model's mask "
                              "id as ?mask_id=N (LLaDA-8B: 126336).")
        self.mask_id = int(mid)

        def ids(*names: str) -> set[int]:
            return {int(v) for v in (getattr(tokenizer, f"{n}_token_id", None) for n in names) if v is not None}

        ends = ids("eos", "sep", "pad")
        never = ({self.mask_id} | ids("unk") | (ids("bos", "cls") - ends))
        self.special_ids = frozenset({int(i) for i in getattr(tokenizer, "all_special_ids", [])} | never | ends)
        self.forbidden = tuple(sorted(never))
        # every other special token (eos, sep, pad, an instruct model's end-of-turn) ends the text
        self.stop_ids = tuple(sorted(self.special_ids - never))
        if self.chat and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"coder:hf:{path}: ?chat=1 needs a tokenizer with a chat template; this one has none "
                              "(drop chat=1 for a base model).")

    def encode_prompt(self, prompt: str, max_len: int) -> list[int]:
        """Prompt ids (the last ``max_len``, keeping a leading bos/cls); a trailing stop id is dropped
        so the model does not see the text end before the completion."""
        tok = self.tokenizer
        if self.chat:
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
            ids = list(tok(text, add_special_tokens=False)["input_ids"])
        else:
            ids = list(tok(prompt)["input_ids"])
        if len(ids) > 1 and ids[-1] in self.stop_ids:
            ids = ids[:-1]
        if not ids:
            ids = [self.stop_ids[0] if self.stop_ids else self.mask_id]
        if len(ids) > max_len:
            lead = ids[:1] if ids[0] in self.special_ids else []
            ids = lead + ids[len(ids) - (max_len - len(lead)):]
        return ids

    def completion_ids(self, row: list[int]) -> list[int]:
        """The ids before the first stop id, special ids dropped."""
        out = []
        for t in row:
            if t in self.stop_ids:
                break
            if t not in self.special_ids:
                out.append(t)
        return out

    def decode(self, row: list[int]) -> str:
        """Completion text of a sampled row (never contains a special token)."""
        return self.tokenizer.decode(self.completion_ids(row), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)


class HFDenoiser(torch.nn.Module):
    """``forward(x_t [B, L], prompt [B, P], x_pad, prompt_pad) -> logits [B, L, V]`` on an HF model.

    The model sees ``[prompt | x_t | suffix masks]`` (``suffix``: masked slots of later blocks,
    visible but not decoded, as in LLaDA's semi-autoregressive sampling); pads get attention
    mask 0. ``shift_logits``: position ``i``'s prediction is read from position ``i - 1``."""

    def __init__(self, model: torch.nn.Module, mask_id: int, pad_id: int = 0, shift_logits: bool = False) -> None:
        super().__init__()
        self.model, self.mask_id, self.pad_id, self.shift_logits = model, int(mask_id), int(pad_id), bool(shift_logits)
        self.suffix = 0

    def forward(self, x: torch.Tensor, prompt: torch.Tensor, x_pad: torch.Tensor | None = None,
                prompt_pad: torch.Tensor | None = None) -> torch.Tensor:
        B, P, L = x.shape[0], prompt.shape[1], x.shape[1]
        parts = [prompt, x]
        if self.suffix:
            parts.append(torch.full((B, self.suffix), self.mask_id, dtype=x.dtype, device=x.device))
        ids = torch.cat(parts, dim=1)
        attention = None
        if x_pad is not None or prompt_pad is not None:
            keep = torch.ones_like(ids, dtype=torch.long)
            if prompt_pad is not None:
                keep[:, :P] = (~prompt_pad).long()
            if x_pad is not None:
                keep[:, P:P + L] = (~x_pad).long()
            attention = keep
        out = self.model(input_ids=ids, attention_mask=attention) if attention is not None else self.model(input_ids=ids)
        logits = out.logits if hasattr(out, "logits") else out[0]
        if self.shift_logits:
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits[:, P:P + L]


def _max_positions(model: torch.nn.Module) -> int | None:
    cfg = getattr(model, "config", None)
    for key in ("max_position_embeddings", "max_sequence_length", "n_positions"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class HFCoder:
    """A Hugging Face masked LM behind :class:`~adiff_env.code.coder.DiffusionCoder`'s
    ``generate(prompt, n, act, generator) -> (programs, mean log-probs)`` (module doc)."""

    kind = "hf"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, config: HFCoderConfig | None = None,
                 device: str = "cpu", path: str = "") -> None:
        self.config = config or HFCoderConfig()
        self.path = str(path)
        self.device = torch.device(device)
        self.tokens = HFTokenizerAdapter(tokenizer, self.path, self.config.mask_id, self.config.chat)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (self.tokens.stop_ids or (0,))[0]
        self.model = model.to(self.device).eval()
        self.denoiser = HFDenoiser(self.model, self.tokens.mask_id, int(pad), self.config.shift_logits)
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        if isinstance(vocab, int) and self.tokens.mask_id >= vocab:
            raise ConfigError(f"coder:hf:{path}: mask id {self.tokens.mask_id} is outside the model's vocabulary "
                              f"of {vocab}.")
        limit = _max_positions(self.model)
        self.max_prompt_len = self.config.max_prompt_len
        if limit is not None:
            room = limit - self.config.max_new_tokens
            if room < 1:
                raise ConfigError(f"coder:hf:{path}: max_new_tokens={self.config.max_new_tokens} leaves no room for "
                                  f"the prompt in the model's {limit} positions; lower max_new_tokens.")
            self.max_prompt_len = min(self.max_prompt_len, room)

    @classmethod
    def from_pretrained(cls, path: str | Path, config: HFCoderConfig | None = None, device: str = "cpu") -> HFCoder:
        """Model + tokenizer from the local folder ``path`` (``local_files_only``; remote code only
        with ``config.trust_remote_code``). ``AutoModelForMaskedLM`` first, ``AutoModel`` for
        models that register only that (LLaDA, Dream)."""
        config = config or HFCoderConfig()
        folder = check_model_dir(path)
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"coder:hf:{path}: device {device!r} asked for, but torch sees no CUDA device here "
                              f"(torch {torch.__version__}); use --device cpu or a machine with a GPU.")
        tf = import_transformers()
        dtype = getattr(torch, config.dtype)
        common = {"local_files_only": True, "trust_remote_code": config.trust_remote_code}
        try:
            tokenizer = tf.AutoTokenizer.from_pretrained(str(folder), **common)
        except (OSError, ValueError) as exc:
            raise MissingResourceError(f"coder:hf:{path}: could not load a tokenizer from the folder ({exc}); save "
                                       "one there with tokenizer.save_pretrained(PATH).") from None
        major_minor = tuple(int(p) for p in re.findall(r"\d+", tf.__version__)[:2])
        kw = {**common, ("dtype" if major_minor >= (4, 56) else "torch_dtype"): dtype}
        try:
            model = tf.AutoModelForMaskedLM.from_pretrained(str(folder), **kw)
        except ValueError as exc:
            if "trust_remote_code" in str(exc) and not config.trust_remote_code:
                raise ConfigError(f"coder:hf:{path}: the model's code lives in the folder; run it only if you trust "
                                  "it, with ?trust_remote_code=1.") from None
            try:
                model = tf.AutoModel.from_pretrained(str(folder), **kw)
            except ValueError as exc2:
                raise ConfigError(f"coder:hf:{path}: not a masked LM transformers can load ({exc2}).") from None
        except OSError as exc:
            raise MissingResourceError(f"coder:hf:{path}: could not load the model weights ({exc}).") from None
        return cls(model, tokenizer, config, device, str(path))

    @torch.no_grad()
    def generate(self, prompt: str, n: int, act: CoderActConfig, generator: torch.Generator | None = None,
                 on_step: Any = None) -> tuple[list[str], list[float]]:
        """``n`` programs for ``prompt`` and their mean token log-probabilities (over the
        completion up to its end token). ``steps`` denoising steps in all (split over blocks)."""
        from adiff_env.diffusion.discrete import MaskedSampler, UnmaskConfig, effective_sample_size, systematic_resample

        cfg, total = self.config, self.config.max_new_tokens
        block = cfg.block_length or total
        n_blocks = total // block
        if act.steps < n_blocks:
            raise ValueError(f"steps={act.steps} is fewer than the {n_blocks} blocks of max_new_tokens={total} / "
                             f"block_length={block}; use steps >= {n_blocks}.")
        ids = self.tokens.encode_prompt(prompt, self.max_prompt_len)
        prompts = torch.tensor([ids] * n, dtype=torch.long, device=self.device)
        done: list[torch.Tensor] = []
        conf: list[torch.Tensor] = []
        taken = 0
        for b in range(n_blocks):
            steps = act.steps // n_blocks + (1 if b < act.steps % n_blocks else 0)
            sampler = MaskedSampler(self.denoiser, self.tokens.mask_id, UnmaskConfig(
                steps=steps, strategy=act.strategy, temperature=act.temperature, remask=act.remask,
                forbidden=self.tokens.forbidden), pad_id=self.denoiser.pad_id)
            self.denoiser.suffix = total - (b + 1) * block
            context = torch.cat([prompts, *done], dim=1)
            state = sampler.init(context, None, torch.full((n,), block, dtype=torch.long, device=self.device))
            while not sampler.done(state):
                state = sampler.step(state, context, None, generator=generator)
                taken += 1
                if on_step is not None:
                    on_step(taken, act.steps)
                if act.smc_every and state.step % act.smc_every == 0 and not sampler.done(state) and n > 1:
                    guess = torch.cat([*done, sampler.predict_x0(state, context, None)], dim=1)
                    logw = torch.tensor([self._potential(row, prompt, act.smc_penalty) for row in guess.tolist()])
                    if effective_sample_size(logw) < n / 2:
                        idx = systematic_resample(logw, generator=generator).to(self.device)
                        done = [d[idx] for d in done]
                        conf = [c[idx] for c in conf]
                        state = dataclasses.replace(state, x=state.x[idx], confidence=state.confidence[idx])
            done.append(state.x)
            conf.append(state.confidence)
        self.denoiser.suffix = 0
        rows, confidence = torch.cat(done, dim=1).tolist(), torch.cat(conf, dim=1)
        return [self.decode(row, prompt) for row in rows], self._mean_logp(rows, confidence)

    def decode(self, row: list[int], prompt: str) -> str:
        """The program of a sampled completion row (see :func:`assemble_program`)."""
        return assemble_program(prompt, self.tokens.decode(row))

    def _mean_logp(self, rows: list[list[int]], confidence: torch.Tensor) -> list[float]:
        out = []
        for row, c in zip(rows, confidence.tolist(), strict=True):
            end = next((i + 1 for i, t in enumerate(row) if t in self.tokens.stop_ids), len(row))
            logs = [math.log(max(v, 1e-9)) for v in c[:end]]
            out.append(sum(logs) / max(len(logs), 1))
        return out

    def _potential(self, row: list[int], prompt: str, penalty: float) -> float:
        program = self.decode(row, prompt)
        if sel.normalized_source(program) is None:
            return -2 * penalty
        return 0.0 if sel.static_check(program, sel.entry_point_of(prompt)) else -penalty


def load_hf_coder(path: str, options: dict[str, Any], device: str = "cpu") -> tuple[HFCoder, dict[str, Any]]:
    """:class:`HFCoder` from ``path`` with the :class:`HFCoderConfig` fields of ``options``; returns
    it and the other options (the acting ones)."""
    from adiff_env import config as cfg

    hf_keys = set(cfg.field_types(HFCoderConfig))
    hf = HFCoderConfig.from_dict({k: v for k, v in options.items() if k in hf_keys})
    return HFCoder.from_pretrained(path, hf, device), {k: v for k, v in options.items() if k not in hf_keys}


def hf_planner(path: str, env: Any = None, device: str = "cpu", seed: int = 0, **options: Any) -> Any:
    """A :class:`~adiff_env.code.agent.CodePlanner` on :class:`HFCoder` (``coder:hf:PATH``):
    ``options`` are :class:`CoderActConfig` and :class:`HFCoderConfig` fields."""
    from adiff_env.code.agent import CodePlanner

    coder, rest = load_hf_coder(path, options, device)
    act = CoderActConfig.from_dict(rest)
    shared = getattr(getattr(env, "unwrapped", None), "sandbox", None) if act.sandbox == "env" else None
    limits = getattr(getattr(env, "unwrapped", None), "limits", None)
    return CodePlanner(coder, act, seed=seed, limits=limits, sandbox=shared)
