"""The program-side runner script and the trusted Session that drives it (local subprocesses)."""

import json
import os
import struct
import subprocess
import sys
import time

import pytest

from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.codec import encode, frame
from adiff_env.sandbox.jobs import RUNNER_PATH
from adiff_env.sandbox.judge import limits_message
from adiff_env.sandbox.process import _PipeTransport
from adiff_env.sandbox.session import Session, SessionDead


class FakeTransport:
    """Replays scripted output; records kills."""

    def __init__(self, chunks):
        self.chunks, self.killed, self.sent = list(chunks), False, []

    def write(self, data, deadline):
        self.sent.append(data)
        return True

    def read(self, timeout):
        if not self.chunks:
            time.sleep(min(timeout, 0.05))
            return None
        chunk = self.chunks.pop(0)
        return chunk(self.sent) if callable(chunk) else chunk

    def kill(self):
        self.killed = True

    def diagnostics(self):
        return ""


def _echo_reply(**fields):
    """A reply frame echoing the id of the last request sent."""

    def make(sent):
        rid = json.loads(sent[-1][4:])["id"]
        return frame({"id": rid, "out": "", "err": "", "out_bytes": 0, "err_bytes": 0, **fields})

    return make


def test_usage():
    proc = subprocess.run([sys.executable, "-I", str(RUNNER_PATH)], capture_output=True, timeout=30)
    assert proc.returncode == 2 and b"usage" in proc.stderr


def test_session_accepts_its_reply_only_once():
    transport = FakeTransport([_echo_reply(ok=True, value=encode((1, "a")))])
    session = Session(transport, output_cap=100)
    assert session.request({"op": "call"}, time.monotonic() + 5)["value"] == ["t", 1, "a"]


@pytest.mark.parametrize(
    "chunks, kind",
    [
        ([frame({"id": "nope", "ok": True})], "ProtocolError"),  # a reply for another request
        ([frame({"op": "ended", "token": "guess"})], "ProtocolError"),  # forged ended frame
        ([b"\x00\x00\x00\x05{bad}"], "ProtocolError"),  # malformed frame
        ([struct.pack(">I", 1 << 30)], "ProtocolError"),  # over the cap
        ([_echo_reply(ok="yes")], "ProtocolError"),  # ok not a bool
        ([_echo_reply(ok=True, out=5)], "ProtocolError"),  # malformed output fields
        ([], "Timeout"),  # silence
        ([b""], "ProcessExited"),  # EOF
    ],
)
def test_session_fails_closed(chunks, kind):
    transport = FakeTransport(chunks)
    session = Session(transport, output_cap=100, token="realtoken")
    with pytest.raises(SessionDead) as info:
        session.request({"op": "call"}, time.monotonic() + 0.3)
    assert info.value.kind == kind and transport.killed
    with pytest.raises(SessionDead):  # dead for good
        session.request({"op": "call"}, time.monotonic() + 0.3)


def test_extra_frame_breaks_the_next_request():
    def two(sent):
        rid = json.loads(sent[-1][4:])["id"]
        return frame({"id": rid, "ok": True, "value": 1}) + frame({"id": rid, "ok": True, "value": 2})

    session = Session(FakeTransport([two]), output_cap=100)
    assert session.request({"op": "call"}, time.monotonic() + 1)["value"] == 1
    with pytest.raises(SessionDead, match="another request"):
        session.request({"op": "call"}, time.monotonic() + 1)


def test_serve_runs_one_runner_per_start_and_answers_with_the_token(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    transport = _PipeTransport([sys.executable, "-I", str(RUNNER_PATH), "serve", str(root)], cwd=str(tmp_path), user=None)
    try:
        for token in ("tok1", "tok2"):
            assert transport.write(frame({"op": "start", "token": token}), time.monotonic() + 5)
            session = Session(transport, output_cap=1000, token=token)
            deadline = time.monotonic() + 30
            program = "import os\nprint(os.getcwd())\ndef f(x):\n    return [x, x]\n"
            loaded = session.request({"op": "load", "program": program, "limits": limits_message(Limits())}, deadline)
            assert loaded["ok"]
            reply = session.request({"op": "call", "fn": "f", "args": encode([3]), "kwargs": encode({})}, deadline)
            assert reply["value"] == ["l", 3, 3]
            session.finish(deadline)
            assert session.clean and session.ended and session.exit == "exit 0"
            assert str(root) in session.stdout and token not in session.stdout
        assert os.listdir(root) == []  # every work dir removed
    finally:
        transport.close()
