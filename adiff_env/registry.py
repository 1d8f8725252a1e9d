"""Model registry: versioned checkpoints of named models, generic over what they hold.

Layout of one version (a directory, written whole or not at all)::

    $ADIFF_HOME/models/NAME/v3/
        weights.safetensors     named tensors (no pickle); absent when a model has none
        config.json             the model's constructor config (any JSON object)
        metadata.json           CheckpointMetadata: kind, env, dataset, normalizer, steps,
                                scores, parent, created_at, git_commit, seed, sha256 of files
        ...                     extra files (e.g. an SB3 zip), listed in metadata

``ADIFF_HOME`` defaults to ``~/.adiff``. A save writes into a hidden temporary directory
next to the versions and renames it into place, so readers never see a half-written
version; a failed save leaves nothing. Specs resolve as:

- ``NAME``      the latest version over all roots (ties: the first root),
- ``NAME@v2``   that version, from the first root that has it,
- a path (contains ``/``, or starts with ``.`` or ``~``): that version directory.

Roots are ``$ADIFF_HOME/models`` (writable) then read-only roots, by default the shipped
``planners/pretrained/`` (same ``NAME/vK/`` layout). New versions number after the highest
version in any root, so a model evolved from a shipped ``v1`` is saved as ``v2``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adiff_env._provenance import git_commit  # noqa: F401  (re-exported)
from adiff_env.errors import CheckpointError, ConfigError, MissingResourceError, UnknownNameError

if TYPE_CHECKING:  # torch loads with the first checkpoint, so listing models stays light
    import torch
    from torch import nn

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
METADATA = "metadata.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")




@dataclass
class CheckpointMetadata:
    """What a version records besides its weights and config (``metadata.json``).

    ``kind``: what loads it (``"trajectory-planner"``, ``"code-planner"``, ``"sb3"``...).
    ``normalizer``: any JSON (e.g. per-dimension mean/std). ``scores``: evaluation results.
    ``parent``: the spec this version was derived from (``"NAME@v1"``). ``name``,
    ``version``, ``created_at``, ``git_commit`` and ``files`` (sha256 of each file) are filled
    by :meth:`ModelRegistry.save`. ``extra``: anything else JSON-serialisable.
    """

    kind: str
    env: str | None = None
    dataset: str | None = None
    normalizer: Any = None
    steps: int | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    seed: int | None = None
    name: str | None = None
    version: int | None = None
    created_at: str | None = None
    git_commit: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path) -> CheckpointMetadata:
        from adiff_env import config

        if not isinstance(data, Mapping) or "kind" not in data:
            raise CheckpointError(f"{path} is not a checkpoint metadata object with a 'kind'.")
        try:
            return config.from_dict(cls, data, str(path))
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc


@dataclass
class Checkpoint:
    """A loaded version: its directory, ``tensors`` (name -> CPU tensor), ``config`` and
    ``metadata``. Extra files are read from ``path`` by the caller."""

    path: Path
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    metadata: CheckpointMetadata

    @property
    def spec(self) -> str:
        """``NAME@vK``, the pinned spec of this version."""
        return f"{self.metadata.name}@v{self.metadata.version}"


def adiff_home() -> Path:
    """``$ADIFF_HOME`` or ``~/.adiff``."""
    return Path(os.environ.get("ADIFF_HOME") or Path.home() / ".adiff").expanduser()


def default_read_only_roots() -> list[Path]:
    """The shipped pretrained checkpoints (``planners/pretrained/``), if present."""
    from adiff_env.assets import asset_path

    try:
        return [asset_path("planners", "pretrained")]
    except FileNotFoundError:  # pragma: no cover - broken installation
        return []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing; the checkpoint is incomplete.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint file {path} is not valid JSON ({exc}).") from exc


def check_name(name: str) -> str:
    """Validate a model name: letters, digits, ``.``, ``_``, ``-``; starts alphanumeric."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"model name {name!r} is invalid; use letters, digits, '.', '_' or '-' (starting "
            "with a letter or digit), e.g. 'pointmaze-umaze'."
        )
    return name


class ModelRegistry:
    """Versioned checkpoints under ``home/models`` plus read-only roots (see module doc)."""

    def __init__(
        self, home: Path | str | None = None, read_only_roots: Sequence[Path | str] | None = None
    ) -> None:
        self.home = Path(home).expanduser() if home is not None else adiff_home()
        self.models_dir = self.home / "models"
        ro = default_read_only_roots() if read_only_roots is None else read_only_roots
        self.read_only_roots = [Path(r) for r in ro]

    @property
    def roots(self) -> list[Path]:
        """Where names are looked up, in order: ``home/models`` then the read-only roots."""
        return [self.models_dir, *self.read_only_roots]

    # -- listing -----------------------------------------------------------------------
    def versions(self, name: str) -> list[int]:
        """Sorted version numbers of ``name`` over all roots."""
        found: set[int] = set()
        for root in self.roots:
            found.update(v for v, _ in self._versions_in(root, name))
        return sorted(found)

    def _versions_in(self, root: Path, name: str) -> list[tuple[int, Path]]:
        folder = root / name
        if not folder.is_dir():
            return []
        out = []
        for child in folder.iterdir():
            m = _VERSION_RE.match(child.name)
            if m and child.is_dir():
                out.append((int(m.group(1)), child))
        return sorted(out)

    def list_models(self) -> dict[str, list[int]]:
        """``{name: [versions]}`` over all roots."""
        names = set()
        for root in self.roots:
            if root.is_dir():
                names.update(c.name for c in root.iterdir() if c.is_dir() and _NAME_RE.match(c.name))
        return {n: v for n in sorted(names) if (v := self.versions(n))}

    # -- resolution --------------------------------------------------------------------
    def resolve(self, spec: str) -> Path:
        """The version directory a spec names (``NAME``, ``NAME@vK`` or a path)."""
        spec = str(spec).strip()
        if not spec:
            raise ConfigError("empty model spec; use NAME, NAME@vK or a checkpoint directory.")
        if "/" in spec or os.sep in spec or spec.startswith((".", "~")):
            path = Path(spec).expanduser()
            if not path.is_dir():
                raise MissingResourceError(f"checkpoint directory {path} does not exist.")
            return path
        name, _, pin = spec.partition("@")
        check_name(name)
        if not self.versions(name):
            raise UnknownNameError("model", name, self.list_models())
        if pin:
            m = _VERSION_RE.match(pin)
            if not m:
                raise ConfigError(f"bad version {pin!r} in {spec!r}; write NAME@v2.")
            wanted = int(m.group(1))
            for root in self.roots:
                for v, path in self._versions_in(root, name):
                    if v == wanted:
                        return path
            raise UnknownNameError(f"version of {name}", pin, [f"v{v}" for v in self.versions(name)], plural=f"versions of {name}")
        latest = self.versions(name)[-1]
        for root in self.roots:
            for v, path in self._versions_in(root, name):
                if v == latest:
                    return path
        raise AssertionError("unreachable")  # pragma: no cover

    # -- saving ------------------------------------------------------------------------
    def save(
        self,
        name: str,
        metadata: CheckpointMetadata,
        *,
        tensors: Mapping[str, torch.Tensor] | None = None,
        config: Mapping[str, Any] | None = None,
        extra_files: Mapping[str, Path | str | bytes] | None = None,
    ) -> Checkpoint:
        """Write a new version of ``name`` atomically and return it (as loaded back).

        ``tensors`` go to ``weights.safetensors`` (moved to CPU, made contiguous),
        ``config`` to ``config.json``; ``extra_files`` maps a plain file name to a source path
        or bytes. Fills ``metadata.name/version/created_at/files`` (and ``git_commit`` if None).
        """
        check_name(name)
        folder = self.models_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            self._write_files(tmp, tensors, config, extra_files)
            meta = dataclasses.replace(
                metadata,
                name=name,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                git_commit=metadata.git_commit or git_commit(),
                files={p.name: _sha256(p) for p in sorted(tmp.iterdir())},
            )
            for _ in range(100):  # another writer may take a number first: retry the next one
                meta.version = (self.versions(name) or [0])[-1] + 1
                _write_json(tmp / METADATA, dataclasses.asdict(meta))
                try:
                    os.rename(tmp, folder / f"v{meta.version}")
                    break
                except OSError:
                    if not (folder / f"v{meta.version}").exists():
                        raise
            else:  # pragma: no cover
                raise RuntimeError(f"could not allocate a version for {name!r}")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.load(f"{name}@v{meta.version}")

    @staticmethod
    def _write_files(tmp: Path, tensors, config, extra_files) -> None:
        if tensors:
            plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
            from safetensors.torch import save_file

            save_file(plain, str(tmp / WEIGHTS))
        _write_json(tmp / CONFIG, dict(config or {}))
        for fname, src in (extra_files or {}).items():
            if fname in (WEIGHTS, CONFIG, METADATA) or Path(fname).name != fname or fname.startswith("."):
                raise ValueError(
                    f"extra file name {fname!r} must be a plain file name other than "
                    f"{WEIGHTS}, {CONFIG}, {METADATA}."
                )
            if isinstance(src, bytes):
                (tmp / fname).write_bytes(src)
            else:
                shutil.copyfile(src, tmp / fname)

    # -- loading -----------------------------------------------------------------------
    def load(self, spec: str, kind: str | None = None) -> Checkpoint:
        """Load and verify a version; ``kind`` (if given) must match ``metadata.kind``.

        Raises :class:`CheckpointError` on a missing file, bad JSON, a checksum mismatch or
        the wrong kind, :class:`UnknownNameError` on an unknown name.
        """
        path = self.resolve(spec)
        meta = CheckpointMetadata.from_dict(_read_json(path / METADATA), path / METADATA)
        if kind is not None and meta.kind != kind:
            raise CheckpointError(
                f"checkpoint {path} holds a {meta.kind!r} model, not a {kind!r} one; pick a "
                f"{kind} checkpoint."
            )
        for fname, digest in meta.files.items():
            file = path / fname
            if not file.is_file():
                raise CheckpointError(f"checkpoint file {file} is missing; the checkpoint is incomplete.")
            if _sha256(file) != digest:
                raise CheckpointError(f"checkpoint file {file} is corrupt (sha256 mismatch).")
        config = _read_json(path / CONFIG)
        tensors: dict[str, torch.Tensor] = {}
        if (path / WEIGHTS).exists():
            try:
                from safetensors import SafetensorError
                from safetensors.torch import load_file

                tensors = load_file(str(path / WEIGHTS))
            except (SafetensorError, OSError, ValueError) as exc:
                raise CheckpointError(f"cannot read weights {path / WEIGHTS}: {exc}") from exc
        return Checkpoint(path=path, tensors=tensors, config=config, metadata=meta)


def average_tensors(
    tensor_sets: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float] | None = None
) -> dict[str, torch.Tensor]:
    """The (weighted) mean of several sets of named tensors: a "model soup".

    Every set must hold the same names with the same shapes and dtypes (fine-tunes of one
    network); floating tensors are averaged (in float64, cast back), any other tensor (an
    integer counter, a mask) must be equal in all sets and is kept. ``weights`` (default
    uniform) are normalised to sum to 1. Raises :class:`CheckpointError` on a mismatch.
    """
    import torch

    if not tensor_sets:
        raise ValueError("average_tensors needs at least one set of tensors.")
    w = [1.0] * len(tensor_sets) if weights is None else [float(x) for x in weights]
    if len(w) != len(tensor_sets) or any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"weights {list(w)} must be one non-negative number per set, not all zero.")
    w = [x / sum(w) for x in w]
    first = tensor_sets[0]
    for i, other in enumerate(tensor_sets[1:], start=1):
        if set(other) != set(first):
            diff = sorted(set(other) ^ set(first))[:5]
            raise CheckpointError(f"tensor set {i} holds other names than set 0 (e.g. {diff}); not one network.")
        for key, t in first.items():
            if other[key].shape != t.shape or other[key].dtype != t.dtype:
                raise CheckpointError(
                    f"tensor {key!r}: set {i} has {tuple(other[key].shape)} {other[key].dtype}, "
                    f"set 0 {tuple(t.shape)} {t.dtype}; not one network."
                )
    out: dict[str, torch.Tensor] = {}
    for key, t in first.items():
        if t.is_floating_point():
            acc = sum(x * s[key].detach().to("cpu", torch.float64) for x, s in zip(w, tensor_sets, strict=True))
            out[key] = torch.as_tensor(acc).to(t.dtype)
        else:
            if any(not torch.equal(s[key], t) for s in tensor_sets[1:]):
                raise CheckpointError(f"non-float tensor {key!r} differs between the sets; cannot average it.")
            out[key] = t.detach().to("cpu").clone()
    return out


def save_average(
    registry: ModelRegistry,
    name: str,
    specs: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """Register the weight average of the versions ``specs`` as a new version of ``name``.

    The members must be one kind with one normalizer (fine-tunes of one base, which keep its
    normalizer) and the same tensors (:func:`average_tensors`). The new version takes the
    first member's config (its acting rules) and env; ``parent`` is the members' common parent
    if they have one, else the first member; ``extra["average"]`` records the members and
    weights. Scores start empty.
    """
    members = [registry.load(s) for s in specs]
    if not members:
        raise ValueError("save_average needs at least one checkpoint spec.")
    head = members[0].metadata
    for spec, m in zip(specs, members, strict=True):
        if m.metadata.kind != head.kind:
            raise CheckpointError(f"{spec} is a {m.metadata.kind!r} model, {specs[0]} a {head.kind!r} one.")
        if m.metadata.normalizer != head.normalizer:
            raise CheckpointError(f"{spec} has another normalizer than {specs[0]}; their weights do not mean the same.")
    tensors = average_tensors([m.tensors for m in members], weights)
    parents = {m.metadata.parent for m in members}
    parent = parents.pop() if len(parents) == 1 and None not in parents else members[0].spec
    datasets = sorted({m.metadata.dataset for m in members if m.metadata.dataset})
    meta = CheckpointMetadata(
        kind=head.kind,
        env=head.env,
        dataset=datasets[0] if len(datasets) == 1 else None,
        normalizer=head.normalizer,
        steps=head.steps,
        parent=parent,
        seed=head.seed,
        extra={
            "average": {"members": [m.spec for m in members],
                        "weights": list(weights) if weights is not None else [1.0] * len(members),
                        "datasets": datasets},
            **dict(extra or {}),
        },
    )
    return registry.save(name, meta, tensors=tensors, config=members[0].config)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")



def load_weights(module: nn.Module, tensors: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """:func:`adiff_env.diffusion.models.load_weights` (imported on first use: torch)."""
    from adiff_env.diffusion.models import load_weights as load

    load(module, tensors, source)
