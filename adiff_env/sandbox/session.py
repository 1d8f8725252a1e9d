"""Trusted side of one program process: requests, their one reply each, deadlines from outside.

A :class:`Session` drives one runner (``adiff_env/sandbox/runner/runner.py``) over a
:class:`Transport` (a local pipe pair, a container's attached stream, a ``docker exec``
socket). Every request carries a fresh random id; the next frame must be its reply, with that
id. Anything else -- a frame for another id, a second reply, a malformed frame or value, an
``ended`` frame without this run's token, silence past the deadline, the stream closing --
breaks the session: it is killed (the transport kills the process group or the container) and
the pending request raises :class:`SessionDead`. Nothing waits on the program's good will:
each read has the caller's deadline.
"""

from __future__ import annotations

import secrets
import time
from typing import Protocol

from adiff_env.sandbox.codec import FrameParser, WireError, frame

# kinds of SessionDead
TIMEOUT, PROTOCOL, EXITED, LOST = "Timeout", "ProtocolError", "ProcessExited", "SandboxLost"


class Transport(Protocol):
    """Byte stream to one runner. ``read`` returns ``None`` when ``timeout`` passes, ``b""`` at EOF."""

    def write(self, data: bytes, deadline: float) -> bool: ...  # False: could not write by the deadline

    def read(self, timeout: float) -> bytes | None: ...

    def kill(self) -> None: ...  # kill the program's whole process group / container, now

    def diagnostics(self) -> str: ...  # e.g. the tail of the server's stderr


class SessionDead(Exception):
    """The session cannot answer: ``kind`` is one of Timeout, ProtocolError, ProcessExited, SandboxLost."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


class Session:
    """One runner process (see the module docstring). ``token``: the server's ``ended`` token
    (Docker server mode), else ``None``. ``output_cap``: bytes kept of stdout and of stderr."""

    def __init__(self, transport: Transport, *, output_cap: int, token: str | None = None) -> None:
        self.transport, self.token, self.cap = transport, token, output_cap
        self._parser = FrameParser()
        self._queue: list[dict] = []
        self.stdout, self.stderr = "", ""
        self.out_bytes = self.err_bytes = 0
        self.dead: SessionDead | None = None
        self.exit: str | None = None  # the runner's exit, where the server reported it
        self.leftovers = 0
        self.oom = False
        self.clean = False  # ended normally: bye (and the server's ended frame) and nothing else
        self.ended = False  # the server's ended frame (with this run's token) arrived
        self._ahead: list[tuple[str, dict]] = []  # requests sent ahead, not yet asked for

    # -- internals --------------------------------------------------------------------------
    def _die(self, kind: str, message: str, kill: bool = True) -> SessionDead:
        if kill:
            self.transport.kill()
        self.dead = SessionDead(kind, message)
        return self.dead

    def _next_frame(self, deadline: float) -> dict:
        while not self._queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._die(TIMEOUT, "time limit exceeded")
            data = self.transport.read(remaining)
            if data is None:
                raise self._die(TIMEOUT, "time limit exceeded")
            if not data:
                detail = self.transport.diagnostics()
                raise self._die(EXITED, "the program's process exited without answering" + (f": {detail}" if detail else ""))
            try:
                self._queue += self._parser.feed(data)
            except WireError as exc:
                raise self._die(PROTOCOL, f"malformed output on the channel ({exc})") from None
        return self._queue.pop(0)

    def _take_output(self, reply: dict) -> None:
        out, err = reply.get("out", ""), reply.get("err", "")
        out_n, err_n = reply.get("out_bytes", 0), reply.get("err_bytes", 0)
        if type(out) is not str or type(err) is not str or type(out_n) is not int or type(err_n) is not int:
            raise self._die(PROTOCOL, "a reply with malformed output fields")
        self.stdout = (self.stdout + out)[: self.cap]
        self.stderr = (self.stderr + err)[: self.cap]
        self.out_bytes, self.err_bytes = max(self.out_bytes, out_n), max(self.err_bytes, err_n)

    def _ended(self, message: dict) -> bool:
        """True for this run's ``ended`` frame (records it); a forged one breaks the session."""
        if message.get("op") != "ended":
            return False
        if self.token is None or message.get("token") != self.token:
            raise self._die(PROTOCOL, "an 'ended' frame without this run's token (forged)")
        self.exit = str(message.get("exit", ""))[:100]
        leftovers = message.get("leftovers", 0)
        self.leftovers = max(self.leftovers, leftovers if type(leftovers) is int else 0)
        self.oom = message.get("oom") is True
        return True

    # -- API --------------------------------------------------------------------------------
    def send_ahead(self, messages: list[dict], deadline: float) -> None:
        """Send ``messages`` now, in one write (each with a fresh id); later :meth:`request`
        calls with the same messages, in the same order, only wait for their replies."""
        if self.dead is not None:
            raise self.dead
        ahead = [(secrets.token_hex(8), m) for m in messages]
        if not self.transport.write(b"".join(frame({**m, "id": rid}) for rid, m in ahead), deadline):
            raise self._die(TIMEOUT, "time limit exceeded (the program does not read its input)")
        self._ahead += ahead

    def request(self, message: dict, deadline: float) -> dict:
        """Send ``message`` with a fresh id (or take it from those sent ahead); return its one
        reply (checked for shape)."""
        if self.dead is not None:
            raise self.dead
        if self._ahead:
            rid, sent = self._ahead.pop(0)
            if sent != message:  # the judge asked for something else than it sent ahead
                raise self._die(PROTOCOL, "a request out of the order it was sent ahead in")
        else:
            rid = secrets.token_hex(8)
            if not self.transport.write(frame({**message, "id": rid}), deadline):
                raise self._die(TIMEOUT, "time limit exceeded (the program does not read its input)")
        reply = self._next_frame(deadline)
        if self._ended(reply):  # PID 1 already killed what was left: the container stays usable
            self.dead = SessionDead(EXITED, f"the program's process ended ({self.exit}) without answering")
            self.ended = True
            raise self.dead
        if reply.get("id") != rid:
            raise self._die(PROTOCOL, "a reply for another request (extra, duplicated or forged output)")
        ok = reply.get("ok", False) if message.get("op") != "end" else True
        if type(ok) is not bool:
            raise self._die(PROTOCOL, "a reply without a boolean 'ok'")
        if not ok and (type(reply.get("error_type")) is not str or type(reply.get("message", "")) is not str):
            raise self._die(PROTOCOL, "an error reply with malformed fields")
        self._take_output(reply)
        return reply

    def finish(self, deadline: float) -> None:
        """End the runner (``end`` -> ``bye``, then the server's ``ended`` frame); sets ``clean``."""
        if self.dead is not None:
            return
        try:
            bye = self.request({"op": "end"}, deadline)
            if bye.get("op") != "bye":
                raise self._die(PROTOCOL, "the end request got no 'bye'")
            leftovers = bye.get("leftovers", 0)
            self.leftovers = leftovers if type(leftovers) is int and leftovers >= 0 else 0
            if self.token is not None and not self._ended(self._next_frame(deadline)):
                raise self._die(PROTOCOL, "output after the program's last reply")
            self.ended = self.token is not None
        except SessionDead:
            return
        self.clean = not self._queue and self._parser.pending == 0 and not self._ahead
