"""Growing a trained coder's vocabulary for a new corpus (fine-tuning on new task families).

A coder fine-tuned with its parent's tokenizer sees every new prompt word (``square``,
``even``, ``reversed``) as an anonymous ``<ref:j>`` pointer and every new program token
(``abs``, ``[::-1]``'s ``::``) spelled out character by character. :func:`extend_tokenizer`
appends the corpus tokens the parent lacks to the END of its vocabulary (old ids unchanged),
and :func:`grow_embeddings` appends matching rows, drawn from ``N(0, std^2)`` with an explicit
generator, to the token embedding ``tok.weight`` [V, D] and the output head ``head.weight``
[V, D] (tied to it by default); every other tensor is kept as it is.

Entry-point names of the corpus (``exclude``) stay out of the vocabulary, so programs name
their function through the prompt's ``<ref:j>`` pointer, as they must for a held-out family
whose name was never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from adiff_env.code.tokenizer import CodeTokenizer

GROWN_TENSORS = ("tok.weight", "head.weight")  # [V, D] tensors indexed by token id


def extend_tokenizer(tokenizer: CodeTokenizer, prompts: Iterable[str], programs: Iterable[str], *,
                     min_count: int = 2, exclude: Iterable[str] = ()) -> CodeTokenizer:
    """``tokenizer`` plus the tokens of (prompts, programs) it lacks, seen >= ``min_count`` times
    (counted as :meth:`CodeTokenizer.train` with ``paired=True``), minus ``exclude``."""
    fresh = CodeTokenizer.train(prompts, programs, min_count=min_count, paired=True,
                                max_prompt_len=tokenizer.max_prompt_len)
    have, skip = set(tokenizer.vocab), set(exclude)
    added = [t for t in fresh.vocab if t not in have and t not in skip]
    return CodeTokenizer(list(tokenizer.vocab) + added, max_prompt_len=tokenizer.max_prompt_len)


def grow_embeddings(tensors: Mapping[str, torch.Tensor], old_size: int, new_size: int,
                    generator: torch.Generator, std: float = 0.02) -> dict[str, torch.Tensor]:
    """Copy of ``tensors`` with ``GROWN_TENSORS`` grown from ``old_size`` to ``new_size`` rows."""
    if new_size < old_size:
        raise ValueError(f"new_size must be >= old_size, got {new_size} < {old_size}.")
    out = dict(tensors)
    grown = None
    for key in GROWN_TENSORS:
        if key not in tensors:
            continue
        w = tensors[key]
        if w.ndim != 2 or w.shape[0] != old_size:
            raise ValueError(f"{key} has shape {tuple(w.shape)}; expected [{old_size}, D] for the parent's vocabulary.")
        if grown is None:  # tied weights get the same new rows
            grown = torch.randn(new_size - old_size, w.shape[1], generator=generator, dtype=w.dtype) * std
        out[key] = torch.cat([w, grown.to(w.dtype)], dim=0)
    if grown is None:
        raise ValueError(f"none of {GROWN_TENSORS} in the checkpoint's tensors ({sorted(tensors)[:6]}...).")
    return out
