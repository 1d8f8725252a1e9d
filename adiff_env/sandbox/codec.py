"""Plain-data wire format between the trusted judge and the program's process, and framing.

Values (the only ones that cross): ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``,
``list``, ``tuple``, ``dict``, ``set`` -- exact types only (no subclasses), encoded as JSON:

- ``None``, ``bool``, ``int``, ``float``, ``str``: JSON's own (``NaN``/``Infinity`` allowed);
- ``list``, ``tuple``, ``set``: ``["l", ...]``, ``["t", ...]``, ``["s", ...]``;
- ``bytes``: ``["b", "<hex>"]``; ``dict``: ``["d", [key, value], ...]``.

A JSON object or an untagged array in a value position is an error. :func:`decode` is the
strict decoder the trusted side uses on everything the program's process sends: it parses
with :func:`json.loads` (which builds only builtin types and runs no code of the sender),
then checks every node, the nesting depth (:data:`MAX_DEPTH`) and the node count
(:data:`MAX_NODES`); integers longer than Python's 4,300 digits are refused by the parser.
Nothing is unpickled or evaluated.

Frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (an object).
:class:`FrameParser` refuses a frame longer than its cap, bad UTF-8 or JSON, and non-objects.
"""

from __future__ import annotations

import json
import struct

MAX_DEPTH = 64
MAX_NODES = 1_000_000
FRAME_CAP = 8 << 20  # largest frame either side accepts
_SCALARS = (type(None), bool, int, float, str)


class WireError(ValueError):
    """Output of the program's process that is not a well-formed message or value."""


class Unencodable(TypeError):
    """A value outside the plain-data types (a test whose shape the stub cannot express)."""


def encode(value: object) -> object:
    """The JSON-ready form of a plain-data ``value``; :class:`Unencodable` for anything else."""
    budget = [MAX_NODES]
    return _enc(value, 0, budget)


def _enc(value: object, depth: int, budget: list[int]) -> object:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise Unencodable(f"value is nested deeper than {MAX_DEPTH} or has more than {MAX_NODES} parts")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is bytes:
        return ["b", value.hex()]  # type: ignore[union-attr]
    if kind in (list, tuple, set):
        tag = {list: "l", tuple: "t", set: "s"}[kind]
        return [tag] + [_enc(v, depth + 1, budget) for v in value]  # type: ignore[union-attr]
    if kind is dict:
        return ["d"] + [[_enc(k, depth + 1, budget), _enc(v, depth + 1, budget)] for k, v in value.items()]  # type: ignore[union-attr]
    raise Unencodable(f"{kind.__name__} is not plain data (None, bool, int, float, str, bytes, list, tuple, dict, set)")


def decode(obj: object) -> object:
    """The value of JSON-parsed ``obj`` (see the module docstring); :class:`WireError` if malformed."""
    budget = [MAX_NODES]
    return _dec(obj, 0, budget)


def _dec(obj: object, depth: int, budget: list[int]) -> object:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise WireError(f"value nested deeper than {MAX_DEPTH} or with more than {MAX_NODES} parts")
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if kind is not list or not obj or type(obj[0]) is not str:  # type: ignore[index]
        raise WireError(f"malformed value node of type {kind.__name__}")
    tag, items = obj[0], obj[1:]  # type: ignore[index]
    if tag == "l":
        return [_dec(v, depth + 1, budget) for v in items]
    if tag == "t":
        return tuple(_dec(v, depth + 1, budget) for v in items)
    if tag == "s":
        try:
            return {_dec(v, depth + 1, budget) for v in items}
        except TypeError as exc:  # an unhashable member (a list)
            raise WireError(f"unhashable set member: {exc}") from None
    if tag == "b":
        if len(items) != 1 or type(items[0]) is not str:
            raise WireError("malformed bytes node")
        try:
            return bytes.fromhex(items[0])
        except ValueError:
            raise WireError("malformed hex in a bytes node") from None
    if tag == "d":
        out = {}
        for pair in items:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict item")
            key = _dec(pair[0], depth + 1, budget)
            try:
                out[key] = _dec(pair[1], depth + 1, budget)
            except TypeError as exc:
                raise WireError(f"unhashable dict key: {exc}") from None
        return out
    raise WireError(f"unknown value tag {tag[:20]!r}")


def frame(message: dict) -> bytes:
    """``message`` as one frame (length prefix + compact JSON)."""
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(data)) + data


class FrameParser:
    """Incremental frame splitter over a byte stream; ``feed`` returns the complete messages."""

    def __init__(self, cap: int = FRAME_CAP) -> None:
        self.cap = cap
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[dict]:
        self._buf += data
        out = []
        while len(self._buf) >= 4:
            (length,) = struct.unpack(">I", self._buf[:4])
            if length > self.cap:
                raise WireError(f"a frame of {length} bytes, over the cap of {self.cap}")
            if len(self._buf) < 4 + length:
                break
            raw = bytes(self._buf[4 : 4 + length])
            del self._buf[: 4 + length]
            try:
                message = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise WireError("a frame that is not UTF-8 JSON") from None
            if type(message) is not dict:
                raise WireError("a frame that is not a JSON object")
            out.append(message)
        return out
