"""Reading docker's multiplexed attach/exec streams (non-TTY) with deadlines.

Each docker frame is an 8-byte header ``(stream: u8, 0, 0, 0, length: u32 big-endian)`` and
``length`` bytes; stream 1 is stdout (the runner's channel), 2 is stderr (kept: its tail).
"""

from __future__ import annotations

import struct
import time


class DockerStream:
    """Demultiplexer over one raw socket: ``read`` gives stdout bytes, ``stderr`` keeps a tail."""

    def __init__(self, sock) -> None:
        self.sock = getattr(sock, "_sock", sock)
        self._owner = sock
        self._raw = bytearray()
        self.stderr = bytearray()
        self.eof = False

    def _parse(self) -> bytes:
        out = bytearray()
        while len(self._raw) >= 8:
            stream, length = struct.unpack(">BxxxL", self._raw[:8])
            if len(self._raw) < 8 + length:
                break
            payload = bytes(self._raw[8 : 8 + length])
            del self._raw[: 8 + length]
            if stream == 1:
                out += payload
            else:
                self.stderr = (self.stderr + payload)[-4096:]
        return bytes(out)

    def read(self, timeout: float) -> bytes | None:
        """stdout bytes; ``None`` if nothing came within ``timeout``; ``b""`` at EOF."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self.eof:
                return b""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return b""
            self._raw += chunk
            data = self._parse()
            if data:
                return data

    def write(self, data: bytes, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            return False
        except OSError:
            return True  # gone: the next read reports EOF
        return True

    def stderr_tail(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()[-300:]

    def close(self) -> None:
        for s in (self._owner, self.sock):
            try:
                s.close()
            except OSError:
                pass
