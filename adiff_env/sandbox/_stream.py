"""Reading docker's multiplexed attach/exec streams (non-TTY) with deadlines and caps.

Each frame is an 8-byte header ``(stream: u8, 0, 0, 0, length: u32 big-endian)`` and
``length`` bytes; stream 1 is stdout, 2 is stderr.
"""

from __future__ import annotations

import socket
import struct
import time

TIMED_OUT = "timed out outside the container (no answer by the wall limit + grace)"


class FrameReader:
    """Incremental demultiplexer over one raw socket; keeps stdout, and the stderr tail."""

    def __init__(self, sock, cap: int) -> None:
        self.sock, self.cap = sock, cap
        self._raw = bytearray()
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.eof = False

    def _parse(self) -> None:
        while len(self._raw) >= 8:
            stream, length = struct.unpack(">BxxxL", self._raw[:8])
            if len(self._raw) < 8 + length:
                return
            payload = bytes(self._raw[8 : 8 + length])
            del self._raw[: 8 + length]
            if stream == 1:
                self.stdout += payload
            else:
                self.stderr = (self.stderr + payload)[-4096:]

    def _fill(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return TIMED_OUT
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return TIMED_OUT
        if not chunk:
            self.eof = True
            return None
        self._raw += chunk
        self._parse()
        if len(self.stdout) > self.cap:
            return f"the sandbox wrote more than {self.cap} bytes (misbehaving)"
        return None

    def read_line(self, deadline: float) -> tuple[bytes, str | None]:
        """Next stdout line (without the newline), or ``(b"", reason)``."""
        while b"\n" not in self.stdout:
            if self.eof:
                tail = self.stderr.decode("utf-8", "replace").strip()[-300:]
                return b"", "the sandbox server exited" + (f": {tail}" if tail else "")
            error = self._fill(deadline)
            if error:
                return b"", error
        line, _, rest = bytes(self.stdout).partition(b"\n")
        self.stdout = bytearray(rest)
        return line, None

    def read_all(self, deadline: float) -> tuple[bytes, str | None]:
        """All stdout until EOF, or ``(b"", reason)``."""
        while not self.eof:
            error = self._fill(deadline)
            if error:
                return b"", error
        return bytes(self.stdout), None
