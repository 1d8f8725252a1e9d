"""The code domain's configs, with no torch import (the CLI builds its options from them).

- :class:`CoderActConfig`: how a coder samples and chooses (saved with a checkpoint, overridden
  by agent options ``coder:NAME?samples=8``);
- :class:`CoderTrainConfig`: model size and training budget of both coder architectures;
- :class:`CoderPreset`: a TOML preset (``planners/code/*.toml``) = a name, ``[train]`` and the
  ``[act]`` rules stored with the new checkpoint; ``adiff code train --preset NAME``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adiff_env import config
from adiff_env.assets import asset_root
from adiff_env.errors import ConfigError, MissingResourceError, UnknownNameError

STRATEGIES = ("confidence", "random")
ARCHS = ("diffusion", "ar")
DEFAULT_MODEL = "coder-default"  # the shipped checkpoint, planners/pretrained/coder-default/


@dataclass(frozen=True)
class CoderActConfig:
    """How the agent samples and chooses. ``samples``: candidates per sampling round;
    ``steps``: denoising steps; ``strategy``: which masked positions to reveal first;
    ``temperature``: token sampling (0 = argmax); ``remask``: ReMDM re-masking share;
    ``smc_every``/``smc_penalty``: SMC resampling period (0: off) and log-weight penalty per
    failed potential; ``length_temperature``: sampling of program lengths from the length
    head; ``max_rounds``: sampling rounds per attempt when every candidate was tried already;
    ``sandbox``: where the planner runs probes and revealed tests: ``"env"`` (the sandbox of
    the env it acts in -- the same isolation as the env's own tests -- or a process sandbox
    when it acts without an env), ``"process"``, ``"docker"``, or ``None`` (static checks only)."""

    samples: int = 16
    steps: int = 16
    strategy: str = "confidence"
    temperature: float = 0.7
    remask: float = 0.0
    smc_every: int = 4
    smc_penalty: float = 3.0
    length_temperature: float = 1.0
    max_rounds: int = 3
    sandbox: str | None = "env"

    def __post_init__(self) -> None:
        for key in ("samples", "steps", "max_rounds"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"CoderActConfig.{key} must be an int >= 1, got {value!r}.")
        if self.strategy not in STRATEGIES:
            raise UnknownNameError("unmasking strategy", self.strategy, STRATEGIES)
        if self.temperature < 0 or self.length_temperature <= 0 or not 0 <= self.remask < 1:
            raise ValueError(f"need temperature >= 0, length_temperature > 0 and 0 <= remask < 1; got "
                             f"{self.temperature}, {self.length_temperature}, {self.remask}.")
        if self.smc_every < 0 or self.smc_penalty < 0:
            raise ValueError(f"smc_every and smc_penalty must be >= 0, got {self.smc_every}, {self.smc_penalty}.")
        if self.sandbox not in (None, "env", "process", "docker"):
            raise ValueError(f"sandbox must be 'env', 'process', 'docker' or None, got {self.sandbox!r}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "coder acting options") -> CoderActConfig:
        return config.from_dict(cls, data, source)


@dataclass(frozen=True)
class CoderTrainConfig:
    """Model size and training budget, shared by both architectures."""

    arch: str = "diffusion"  # model family: diffusion (masked diffusion) or ar (the autoregressive baseline)
    d_model: int = 128  # transformer width
    n_layers: int = 3  # transformer layers
    n_heads: int = 4  # attention heads (d_model must be divisible by it)
    max_prompt_len: int = 128  # prompt tokens kept
    max_len: int = 96  # program tokens; longer corpus programs are dropped
    schedule: str = "linear"  # masking schedule of the diffusion loss
    steps: int = 4000  # training steps
    batch_size: int = 64  # batch size
    lr: float = 1e-3  # peak learning rate (AdamW, warmup then cosine)
    warmup_steps: int = 200  # linear warmup steps
    weight_decay: float = 0.01  # AdamW weight decay
    ema_decay: float = 0.999  # EMA decay of the registered weights
    grad_clip: float = 1.0  # gradient-norm clip
    length_loss_weight: float = 0.1  # weight of the length head's cross-entropy
    eval_every: int = 1000  # pass@1 on unseen instances every N steps (0: only at the end)
    eval_tasks: int = 4  # evaluation tasks per train family (0: no evaluation)
    checkpoint_every: int = 500  # write resume.pt every N steps (0: never)
    min_count: int = 2  # tokenizer: tokens seen fewer times stay out of the vocabulary
    seed: int = 0  # seed

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}.")
        for key in ("d_model", "n_layers", "n_heads", "steps", "batch_size", "max_len", "max_prompt_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"CoderTrainConfig.{key} must be >= 1, got {getattr(self, key)}.")
        if self.lr <= 0 or not 0 <= self.ema_decay < 1:
            raise ValueError(f"need lr > 0 and 0 <= ema_decay < 1, got {self.lr}, {self.ema_decay}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "coder training options") -> CoderTrainConfig:
        return config.from_dict(cls, data, source)

    def model_config(self, vocab_size: int) -> dict[str, Any]:
        return {"vocab_size": vocab_size, "d_model": self.d_model, "n_layers": self.n_layers, "n_heads": self.n_heads,
                "max_prompt_len": self.max_prompt_len, "max_len": self.max_len}


@dataclass(frozen=True)
class CoderPreset:
    """A coder training preset: registry ``name``, ``train`` config and the ``act`` rules
    stored with the checkpoint (the AR baseline ignores ``steps``, ``strategy``, ``remask``
    and the SMC fields)."""

    name: str
    train: CoderTrainConfig = field(default_factory=CoderTrainConfig)
    act: CoderActConfig = field(default_factory=CoderActConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "coder preset") -> CoderPreset:
        return config.from_dict(cls, data, source)


def coder_preset_names() -> list[str]:
    return sorted(p.stem for p in asset_root("planners").joinpath("code").glob("*.toml"))


def load_coder_preset(spec: str | Path) -> CoderPreset:
    """A coder preset from a TOML path or by name from the shipped ``planners/code/`` folder."""
    path = Path(spec)
    if path.suffix != ".toml" or not path.is_file():
        if path.suffix == ".toml":
            raise MissingResourceError(f"Coder preset file {str(spec)!r} does not exist; shipped presets: "
                                       f"{', '.join(coder_preset_names())}.")
        candidate = asset_root("planners") / "code" / f"{spec}.toml"
        if not candidate.is_file():
            raise UnknownNameError("coder preset", str(spec), coder_preset_names())
        path = candidate
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return CoderPreset.from_dict(data, source=str(path))


HF_DTYPES = ("float32", "bfloat16", "float16")
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class HFCoderConfig:
    """How ``coder:hf:PATH`` loads and prompts a Hugging Face masked LM (the acting rules --
    ``samples``, ``steps``, ``temperature``, ``smc_every`` ... -- are :class:`CoderActConfig`'s).

    ``dtype``: weights' dtype (``float32``, ``bfloat16``/``bf16``, ``float16``/``fp16``; bf16 for
    7B models on a GPU); ``max_new_tokens``: completion length in tokens (every particle gets
    this many masked slots; the text ends at the first end-of-sequence token the model fills
    in); ``block_length``: 0 = unmask the whole completion at once, else LLaDA-style
    semi-autoregressive blocks of that many tokens, ``steps`` split evenly over the blocks
    (``max_new_tokens`` must be a multiple of it); ``max_prompt_len``: prompt tokens kept (the
    end of the prompt, where the signature is); ``trust_remote_code``: run the model folder's
    own Python (LLaDA, Dream) -- off unless asked for; ``mask_id``: mask token id where the
    tokenizer names none (LLaDA-8B: 126336); ``shift_logits``: the model predicts token ``i``
    at position ``i - 1`` (Dream, DiffuCoder: models adapted from autoregressive ones);
    ``chat``: wrap the prompt in the tokenizer's chat template (instruct models)."""

    dtype: str = "float32"
    max_new_tokens: int = 96
    block_length: int = 0
    max_prompt_len: int = 512
    trust_remote_code: bool = False
    mask_id: int | None = None
    shift_logits: bool = False
    chat: bool = False

    def __post_init__(self) -> None:
        dtype = _DTYPE_ALIASES.get(self.dtype, self.dtype)
        if dtype not in HF_DTYPES:
            raise UnknownNameError("dtype", self.dtype, [*HF_DTYPES, *_DTYPE_ALIASES])
        object.__setattr__(self, "dtype", dtype)
        for key in ("max_new_tokens", "max_prompt_len"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"HFCoderConfig.{key} must be an int >= 1, got {getattr(self, key)!r}.")
        if self.block_length < 0 or (self.block_length and self.max_new_tokens % self.block_length):
            raise ValueError(f"block_length must be 0 (off) or divide max_new_tokens={self.max_new_tokens}, "
                             f"got {self.block_length}.")
        if self.mask_id is not None and self.mask_id < 0:
            raise ValueError(f"mask_id must be >= 0, got {self.mask_id}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "coder:hf options") -> HFCoderConfig:
        return config.from_dict(cls, data, source)


def check_model_dir(path: str | Path) -> Path:
    """``path`` (of ``coder:hf:PATH``) as a folder holding ``config.json``; cheap, no import of
    transformers or torch, so ``check_agent`` runs it before any work."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise MissingResourceError(f"coder:hf:{path}: no such folder. Point it at a local folder written by "
                                   "save_pretrained() (config.json, weights, tokenizer files); nothing is downloaded.")
    if not folder.is_dir():
        raise MissingResourceError(f"coder:hf:{path} is a file, not a model folder (config.json, weights, tokenizer).")
    if not (folder / "config.json").is_file():
        raise MissingResourceError(f"coder:hf:{path}: the folder has no config.json, so it holds no transformers "
                                   "model; save one there with model.save_pretrained(PATH) and "
                                   "tokenizer.save_pretrained(PATH).")
    return folder
