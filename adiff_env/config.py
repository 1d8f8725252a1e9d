"""One typed path for every config dataclass: dict/TOML/JSON/CLI text in, a checked dataclass out.

    from_dict(cls, data, source)    # nested dataclasses, unknown keys, missing keys, types
    to_dict(config)                 # JSON/TOML-ready (tuples -> lists, nested -> tables)
    check_options(cls, options, source)  # a partial mapping of overrides: names + types only
    replace(config, overrides, source)   # a copy with some (nested) fields replaced, checked
    field_help(cls), add_arguments(parser, cls, ...), given_arguments(args, cls)  # argparse

Rules. Field names are the keys; an unknown key raises :class:`~adiff_env.errors.UnknownNameError`
naming the nearest known key and listing all. A field without a default is required. Values
are checked against the field's annotation: ``bool`` takes only ``true``/``false`` (a number
is no bool), ``int`` takes an integer (not a bool, not ``1.5``), ``float`` an integer or a
float, ``str`` text, ``tuple[...]``/``list[...]`` a list, ``dict[str, V]`` a table, ``X | None``
also ``null``/``none``, ``Literal[...]`` one of its values, a nested dataclass a table (or an
instance). A union of dataclasses that share a string field with distinct defaults (e.g.
``arch``) is a tagged union: the tag picks the class. Text (from the command line or an agent
option ``KIND:ARG?key=value``) is parsed by the field's type, so ``steps=5`` is an int and
``sampler=ddim`` stays text; nothing is ever ``eval``-ed. A ``ValueError`` from the class's
own ``__post_init__`` becomes a :class:`~adiff_env.errors.ConfigError` prefixed by ``source``.

This module imports neither torch nor any domain, so the CLI builds its parsers from the
config dataclasses without paying for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from adiff_env.errors import ConfigError, UnknownNameError, UserError

T = TypeVar("T")
_MISSING = dataclasses.MISSING
_NONE_TEXT = ("none", "null")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _check_dataclass(cls: Any) -> None:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"expected a dataclass type, got {cls!r}.")


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of dataclass ``cls`` (init fields only)."""
    _check_dataclass(cls)
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def required_fields(cls: type) -> list[str]:
    """Init fields of ``cls`` without a default."""
    return [f.name for f in dataclasses.fields(cls)
            if f.init and f.default is _MISSING and f.default_factory is _MISSING]


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` (calling its factory), or :data:`dataclasses.MISSING`."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default_factory() if f.default_factory is not _MISSING else f.default
    raise UnknownNameError(f"{cls.__name__} field", name, [f.name for f in dataclasses.fields(cls)])


def _where(source: str | None, path: str) -> str:
    return f"{source}: {path}" if source else path


def _raise_unknown(cls: type, unknown: list[str], known: Iterable[str], source: str | None,
                   what: str | None = None) -> None:
    label = what or f"{cls.__name__} key"
    exc = UnknownNameError(label, unknown[0], known, plural=f"{label}s", where=source)
    if len(unknown) > 1:
        exc.args = (f"{exc.args[0]} Also unknown: {', '.join(map(repr, unknown[1:]))}.",)
    raise exc


def check_options(cls: type, options: Mapping[str, Any], source: str | None = None,
                  what: str | None = None) -> dict[str, Any]:
    """Check a *partial* mapping of ``cls`` fields (overrides): every key must be a field and
    every value must fit its type (text is parsed). Returns the coerced values; no instance is
    built, so required fields may be absent."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{source or cls.__name__} must be a table of {cls.__name__} fields, got {options!r}.")
    types_ = field_types(cls)
    unknown = sorted(k for k in options if k not in types_)
    if unknown:
        _raise_unknown(cls, unknown, types_, source, what)
    return {k: coerce(v, types_[k], _where(source, k)) for k, v in options.items()}


def from_dict(cls: type[T], data: Mapping[str, Any], source: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data`` (a TOML table, a JSON object); see the module doc."""
    _check_dataclass(cls)
    source = source or cls.__name__
    if isinstance(data, cls):
        return data
    kwargs = check_options(cls, data, source)
    missing = [k for k in required_fields(cls) if k not in kwargs]
    if missing:
        raise ConfigError(f"{source}: missing required key(s) {missing} of {cls.__name__}.")
    return _construct(cls, kwargs, source)


def _construct(cls: type[T], kwargs: dict[str, Any], source: str) -> T:
    try:
        return cls(**kwargs)
    except UserError as exc:
        if exc.args and isinstance(exc.args[0], str) and not exc.args[0].startswith(source):
            exc.args = (f"{source}: {exc.args[0]}", *exc.args[1:])
        raise
    except ValueError as exc:  # the class's own __post_init__ checks
        raise ConfigError(f"{source}: {exc}") from exc


def to_dict(config: Any) -> dict[str, Any]:
    """JSON/TOML-ready dict of a dataclass (nested dataclasses become dicts, tuples lists)."""
    _check_dataclass(type(config))
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def replace(config: T, overrides: Mapping[str, Any], source: str | None = None) -> T:
    """A copy of ``config`` with ``overrides`` applied; a nested dataclass field takes a
    partial table (``{"train": {"steps": 10}}`` changes one field of ``config.train``)."""
    cls = type(config)
    source = source or cls.__name__
    types_ = field_types(cls)
    unknown = sorted(k for k in overrides if k not in types_)
    if unknown:
        _raise_unknown(cls, unknown, types_, source)
    kwargs = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if f.init}
    for key, value in overrides.items():
        current = kwargs[key]
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            tag = _tag_field(types_[key])
            if tag is not None and tag in value and value[tag] != getattr(current, tag):
                kwargs[key] = coerce(dict(value), types_[key], _where(source, key))  # another member of the union
            else:
                kwargs[key] = replace(current, value, _where(source, key))
        else:
            kwargs[key] = coerce(value, types_[key], _where(source, key))
    return _construct(cls, kwargs, source)


# ---- values -------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _bad(where: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(f"{where} must be {_type_name(tp)}, got {value!r} ({type(value).__name__}).")


def _tag_field(tp: Any) -> str | None:
    """The discriminating field of a union of dataclasses (a ``str`` field with a distinct
    default in each member), or None."""
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) not in (typing.Union, types.UnionType) or len(members) < 2:
        return None
    if not all(isinstance(m, type) and dataclasses.is_dataclass(m) for m in members):
        return None
    common = set.intersection(*({f.name for f in dataclasses.fields(m)} for m in members))
    for name in sorted(common):
        tags = [default_of(m, name) for m in members]
        if all(isinstance(t, str) for t in tags) and len(set(tags)) == len(tags):
            return name
    return None


def coerce(value: Any, tp: Any, where: str = "value") -> Any:
    """``value`` checked against annotation ``tp`` (text parsed by the type); see the module doc."""
    if tp is Any or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, args, where)
    if origin is typing.Literal:
        if isinstance(value, str) and not any(isinstance(a, str) for a in args):
            value = _json_or_text(value)
        if value not in args:
            raise UnknownNameError(f"value of {where}", str(value), [str(a) for a in args], plural="values")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, str):
            value = _parse_json(value, tp, where)
        if not isinstance(value, Mapping):
            raise _bad(where, tp, value)
        return from_dict(tp, value, where)
    if tp is bool:
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.strip().lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r} ({type(value).__name__}).")
        return value
    if tp is int:
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise _bad(where, tp, value) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(where, tp, value)
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value.strip().replace("_", ""))
            except ValueError:
                raise _bad(where, tp, value) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(where, tp, value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _bad(where, tp, value)
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise _bad(where, tp, value)
        return Path(value)
    container = origin or tp
    if container in (tuple, list):
        if isinstance(value, str):
            value = _parse_json(value, tp, where)
        if not isinstance(value, (list, tuple)):
            raise _bad(where, tp, value)
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{where} must have {len(args)} items ({_type_name(tp)}), got {value!r}.")
            items = [coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item = args[0] if args else Any
            items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if container is tuple else items
    if container is dict:
        if isinstance(value, str):
            value = _parse_json(value, tp, where)
        if not isinstance(value, Mapping):
            raise _bad(where, tp, value)
        key_t, val_t = args if args else (Any, Any)
        return {coerce(k, key_t, f"{where} key"): coerce(v, val_t, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise _bad(where, tp, value)
        return value
    return value


def _coerce_union(value: Any, tp: Any, args: tuple, where: str) -> Any:
    members = [a for a in args if a is not type(None)]
    if type(None) in args and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE_TEXT)):
        return None
    tag = _tag_field(tp)
    if tag is not None:
        if isinstance(value, tuple(members)):
            return value
        if isinstance(value, str):
            value = _parse_json(value, tp, where)
        if not isinstance(value, Mapping):
            raise _bad(where, tp, value)
        by_tag = {default_of(m, tag): m for m in members}
        if tag not in value:
            raise ConfigError(f"{where} needs {tag!r}, one of {sorted(by_tag)}.")
        if value[tag] not in by_tag:
            raise UnknownNameError(tag, str(value[tag]), by_tag, where=where)
        return from_dict(by_tag[value[tag]], value, where)
    # text goes to str last, so "5" for ``int | str`` is 5
    for member in sorted(members, key=lambda m: m is str):
        try:
            return coerce(value, member, where)
        except (ConfigError, UnknownNameError):
            continue
    if value is None:
        raise ConfigError(f"{where} must not be null (expected {_type_name(tp)}).")
    raise _bad(where, tp, value)


def _parse_json(text: str, tp: Any, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"{where} must be {_type_name(tp)} written as JSON (e.g. [1, 2] or "
                          f"{{\"key\": 1}}), got {text!r}.") from None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_value(text: str) -> Any:
    """A value of unknown type given as text: JSON where it parses (``5``, ``0.5``, ``true``,
    ``[1, 2]``), the text itself otherwise (``ddim``). Used where no field type is known."""
    return _json_or_text(text)


# ---- help and argparse ----------------------------------------------------------------------


def field_help(cls: type) -> dict[str, str]:
    """Help text of each field: ``metadata["help"]``, else the ``# comment`` after the field in
    the class source, else the sentence of the class docstring that names it in ````name````."""
    _check_dataclass(cls)
    out: dict[str, str] = {}
    comments: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # pragma: no cover - no source (frozen app)
        source = ""
    for line in source.splitlines():
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    doc = " ".join((inspect.getdoc(cls) or "").split())
    sentences = re.split(r"(?<=[.;])\s+(?=[A-Z`])", doc)
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            out[f.name] = str(f.metadata["help"])
        elif f.name in comments:
            out[f.name] = comments[f.name]
        else:
            hit = next((s for s in sentences if f"``{f.name}``" in s), None)
            out[f.name] = hit.rstrip(".") if hit else f.name.replace("_", " ")
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return _metavar(members[0]) if len(members) == 1 else "VALUE"
    if origin is typing.Literal:
        return "{" + ",".join(map(str, args)) + "}"
    return {int: "N", float: "X", str: "TEXT", Path: "PATH"}.get(tp, "JSON")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, only: Iterable[str] | None = None,
                  exclude: Iterable[str] = (), flags: Mapping[str, Iterable[str]] | None = None,
                  default_note: str | None = None, title: str | None = None,
                  types: Mapping[str, Any] | None = None) -> list[str]:
    """Add one ``--field-name`` option per field of ``cls`` (type, metavar and help from the
    field; the help ends with the dataclass default). Options not given parse to ``None``, so
    :func:`given_arguments` returns only what the user typed. ``flags`` adds spellings
    (``{"n_layers": ["--layers"]}``); ``types`` replaces the parser of some (e.g. a positive
    int); ``default_note`` replaces "default: X" (e.g. "default: the preset's"). Returns the
    field names added."""
    types_ = field_types(cls)
    names = [n for n in (only or types_) if n not in set(exclude)]
    unknown = [n for n in names if n not in types_]
    if unknown:
        _raise_unknown(cls, unknown, types_, f"add_arguments({cls.__name__})")
    helps = field_help(cls)
    group = parser.add_argument_group(title) if title else parser
    for name in names:
        tp = types_[name]
        default = default_of(cls, name)
        if default_note:
            note = f" ({default_note})"
        elif default is _MISSING:
            note = " (no default)"
        else:
            note = "" if default is None else f" (default: {_plain(default)})"
        spellings = [_flag(name), *((flags or {}).get(name, ()))]
        text = helps[name].replace("%", "%%") + note
        if tp is bool:
            group.add_argument(*spellings, dest=name, default=None, action=argparse.BooleanOptionalAction, help=text)
            continue
        group.add_argument(*spellings, dest=name, default=None, metavar=_metavar(tp),
                           type=(types or {}).get(name) or _arg_type(tp, name), help=text)
    return names


def _arg_type(tp: Any, name: str):
    def parse(text: str) -> Any:
        try:
            return coerce(text, tp, _flag(name))
        except (ConfigError, UnknownNameError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = _type_name(tp)
    return parse


def given_arguments(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The options of :func:`add_arguments` the user gave (``None`` = not given)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
