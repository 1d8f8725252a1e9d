"""Program-side runner: load a program once, then answer calls with plain data.

Runs inside the sandbox (a Docker container, or a local subprocess) with only the standard
library of Python >= 3.8. It is UNTRUSTED: the program shares its interpreter and may change
anything here. Nothing it says is taken on trust; the trusted judge (``adiff_env.sandbox.judge``,
outside the sandbox) holds the tests, the expected values and every comparison, enforces every
deadline from outside, and fails a test on any reply that is missing, extra or malformed.

    python3 -I runner.py run WORKDIR     # one program on stdin/stdout (exec mode, ProcessSandbox)
    python3 -I runner.py serve WORKROOT  # PID 1 of a container: one runner per "start"
    python3 -I runner.py cleanup         # kill every other process of this user (exec mode)

Frames both ways: 4-byte big-endian length + a UTF-8 JSON object. Requests, each with a random
``id`` that its one reply echoes:

- ``{"op": "load", "program": str, "limits": {...}}`` -> ``{"ok": bool, "error_type", "message"}``;
- ``{"op": "call", "fn": name, "args": V, "kwargs": V}`` -> ``{"ok": true, "value": V}`` or
  ``{"ok": false, "error_type", "message"}`` (``V``: the plain-data encoding of ``codec.py``);
- ``{"op": "exec", "source": str}`` -> ``{"ok": bool, ...}`` (the old, untrusted way of running a
  test statement in the program's namespace: only for tests flagged ``trusted: false``);
- ``{"op": "end"}`` -> ``{"op": "bye", "leftovers": n}``, then the runner exits.

Every reply carries the program's new stdout/stderr (``out``/``err``, capped) and their byte
totals. ``serve``: PID 1 forks a runner ahead of each run, reads ``{"op": "start", "token": T}``
(after the fork, so no runner holds the token of its own run), lets it go in a fresh work dir,
waits for it, kills every other process of the sandbox user, removes the work dir and writes
``{"op": "ended", "token": T, "exit", "leftovers", "oom"}``. PID 1 cannot be signalled by the
program and is not dumpable, so the program cannot forge that frame.
"""

import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import threading
import time
import traceback

FRAME_CAP = 8 << 20
MAX_DEPTH = 64
_SCALARS = (type(None), bool, int, float, str)


# ---- frames and plain data -----------------------------------------------------------------
def read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("channel closed")
        buf += chunk
    return bytes(buf)


def read_frame(fd):
    (n,) = struct.unpack(">I", read_exact(fd, 4))
    if n > FRAME_CAP:
        raise ValueError("frame too large")
    message = json.loads(read_exact(fd, n).decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("frame is not an object")
    return message


def write_frame(fd, message):
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


class Unsupported(TypeError):
    pass


def encode(value, depth=0):
    kind = type(value)
    if depth > MAX_DEPTH:
        raise Unsupported("value nested deeper than %d" % MAX_DEPTH)
    if kind in _SCALARS:
        return value
    if kind is bytes:
        return ["b", value.hex()]
    if kind is list or kind is tuple or kind is set:
        return [{list: "l", tuple: "t", set: "s"}[kind]] + [encode(v, depth + 1) for v in value]
    if kind is dict:
        return ["d"] + [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]
    raise Unsupported("%s is not plain data (None, bool, int, float, str, bytes, list, tuple, dict, set)"
                      % kind.__name__)


def decode(obj):
    if type(obj) in _SCALARS:
        return obj
    tag, items = obj[0], obj[1:]
    if tag == "l":
        return [decode(v) for v in items]
    if tag == "t":
        return tuple(decode(v) for v in items)
    if tag == "s":
        return {decode(v) for v in items}
    if tag == "b":
        return bytes.fromhex(items[0])
    if tag == "d":
        return {decode(k): decode(v) for k, v in items}
    raise ValueError("unknown tag")


# ---- the program's output ------------------------------------------------------------------
class Drain:
    """fd ``target`` -> a pipe read under a lock (by a thread and before each reply), capped."""

    def __init__(self, target, cap):
        self.cap, self.total, self.sent = cap, 0, 0
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.r, w = os.pipe()
        os.dup2(w, target)
        os.close(w)
        os.set_blocking(self.r, False)
        threading.Thread(target=self._loop, daemon=True).start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.total += len(chunk)
            room = self.cap - len(self.buf)
            if room > 0:
                self.buf += chunk[:room]

    def _loop(self):
        alive = True
        while alive:
            try:
                select.select([self.r], [], [])
            except (OSError, ValueError):
                return
            with self.lock:
                alive = self._read()

    def take(self):
        with self.lock:
            self._read()
            new = bytes(self.buf[self.sent:])
            self.sent = len(self.buf)
            return new.decode("utf-8", "replace"), self.total


# ---- processes -----------------------------------------------------------------------------
_LIBC = []


def _prctl(option, value):
    try:
        if not _LIBC:
            import ctypes

            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        _LIBC[0].prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _proc_table():
    """pid -> (ppid, uid) of live (non-zombie) processes, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if fields["State"].split()[0] not in ("Z", "X"):
                table[int(name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return table


def kill_tree(kill_all=False, spare=()):
    """SIGKILL every descendant of this process (``kill_all``: every process of this user but
    PID 1, this one and ``spare``) until none is left; reap; return how many were killed."""
    me, uid = os.getpid(), os.getuid()
    killed = set()
    for _ in range(200):
        table = _proc_table()
        victims, frontier = set(), [me]
        while frontier:
            pid = frontier.pop()
            for child, (ppid, _) in table.items():
                if ppid == pid and child not in victims and child != me and child not in spare:
                    victims.add(child)
                    frontier.append(child)
        if kill_all:
            victims |= {p for p, (_, u) in table.items() if u == uid and p not in (1, me) and p not in spare}
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not victims:
            break
        time.sleep(0.002)
    return len(killed)


def _oom_kills():
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


def _set_limits(limits):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "fsize_bytes"), ("RLIMIT_NPROC", "nproc")):
        value = limits.get(key)
        if value:
            try:
                resource.setrlimit(getattr(resource, name), (int(value), int(value)))
            except (ValueError, OSError):
                pass
    if limits.get("cpu_s"):
        cpu = int(limits["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


# ---- the runner ----------------------------------------------------------------------------
def _error(exc, source, limit, program=False):
    try:
        text = str(exc)
        if program and not isinstance(exc, SyntaxError):
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:
        text = "<unprintable %s>" % type(exc).__name__
    if not text and isinstance(exc, AssertionError):
        text = "assertion failed: " + source.strip()
    return {"ok": False, "error_type": type(exc).__name__, "message": text[:limit]}


def prepare():
    """Channel fds out of the program's way, its stdout/stderr onto drained pipes (done ahead
    of a run in serve mode: starting the drain threads is the slow part)."""
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: the program's orphans come back here
    cin, cout = os.dup(0), os.dup(1)  # non-inheritable copies; fds 0-2 go to the program
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return cin, cout, (Drain(1, 0), Drain(2, 0))


def run(workdir, prepared=None):
    """Serve one program on the channel (fds 0/1 before :func:`prepare`) until ``end``; never returns."""
    cin, cout, drains = prepared or prepare()
    load = read_frame(cin)
    limits = load.get("limits") or {}
    cap = int(limits.get("output_bytes", 65536))
    limit = int(limits.get("message_chars", 500))
    for drain in drains:
        drain.cap = cap
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")  # under memory pressure the program dies first, not PID 1
    except OSError:
        pass
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    os.chdir(workdir)
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PYTHONIOENCODING": "utf-8"})
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    sys.argv = ["program.py"]
    _set_limits(limits)

    def reply(message, rid):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        (out, out_n), (err, err_n) = drains[0].take(), drains[1].take()
        message.update(id=rid, out=out, err=err, out_bytes=out_n, err_bytes=err_n)
        write_frame(cout, message)

    namespace = {"__name__": "__program__", "__builtins__": __builtins__}
    program = load.get("program", "")
    try:
        exec(compile(program, "program.py", "exec"), namespace)
        answer = {"ok": True}
    except BaseException as exc:  # the program's own errors, SystemExit included
        answer = _error(exc, program, limit, program=True)
    reply(answer, load.get("id"))
    while True:
        message = read_frame(cin)
        op, rid = message.get("op"), message.get("id")
        if op == "end":
            reply({"op": "bye", "leftovers": kill_tree()}, rid)
            os._exit(0)
        try:
            if op == "call":
                fn = namespace[message["fn"]] if message["fn"] in namespace else None
                if fn is None:
                    raise NameError("name %r is not defined" % message["fn"])
                value = fn(*decode(message["args"]), **decode(message["kwargs"]))
                answer = {"ok": True, "value": encode(value)}
            elif op == "exec":
                exec(compile(message["source"], "test", "exec"), namespace)
                answer = {"ok": True}
            else:
                answer = {"ok": False, "error_type": "ProtocolError", "message": "unknown op"}
        except BaseException as exc:
            answer = _error(exc, message.get("source", ""), limit)
        reply(answer, rid)


_HELD = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]


def _spawn():
    """Fork the next runner: it prepares, then waits (non-dumpable, ignoring every signal it
    can ignore, so the program of the run in progress cannot trace or stop it) for "go"."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_w)
            os.setsid()
            saved = {}
            for sig in _HELD:
                try:
                    saved[sig] = signal.signal(sig, signal.SIG_IGN)
                except (OSError, ValueError):
                    pass
            prepared = prepare()
            try:
                go = read_frame(go_r)
            except (EOFError, ValueError, OSError):
                os._exit(0)
            os.close(go_r)
            for sig, handler in saved.items():  # Python's own (SIGPIPE, SIGXFSZ ignored: errors raise)
                try:
                    signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
                except (OSError, ValueError, TypeError):
                    pass
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _prctl(4, 1)  # dumpable again: the program may read its own /proc entries
            run(go["workdir"], prepared)
        finally:
            os._exit(70)
    os.close(go_r)
    return pid, go_w


def _waiting(pid):
    """The spare runner ``pid`` is alive and not stopped."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
        with open("/proc/%d/status" % pid) as fh:
            state = next(line for line in fh if line.startswith("State:")).split()[1]
    except (ChildProcessError, OSError, StopIteration, IndexError):
        return False
    return state not in ("T", "t", "Z", "X")


def serve(workroot):
    """PID 1 of a sandbox container (see the module docstring). The next run's runner is
    forked and prepared right after a run ends, before the next ``start`` arrives; no program
    runs while it waits (forking it during a run measured no faster, and it would share the
    container with a hostile program)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(4, 0)  # PR_SET_DUMPABLE = 0: the program (same user) cannot trace or open us
    kill_all = os.getpid() == 1 and os.getuid() != 0
    spare = _spawn()
    while True:
        try:
            while True:
                start = read_frame(0)
                if start.get("op") == "start" and str(start.get("token", "")).isalnum():
                    break
        except (EOFError, ValueError, OSError):
            os.kill(spare[0], signal.SIGKILL)
            return 0
        pid, go_w = spare
        if not _waiting(pid):  # the last program killed or stopped it: a fresh one
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass
            os.close(go_w)
            pid, go_w = _spawn()
        workdir = os.path.join(workroot, "r" + os.urandom(8).hex())
        os.makedirs(workdir, mode=0o700)
        oom_before = _oom_kills()
        write_frame(go_w, {"workdir": workdir})
        os.close(go_w)
        _, status = os.waitpid(pid, 0)
        leftovers = kill_tree(kill_all)
        shutil.rmtree(workdir, ignore_errors=True)
        if os.WIFSIGNALED(status):
            exit_desc = "signal %d" % os.WTERMSIG(status)
        else:
            exit_desc = "exit %d" % os.WEXITSTATUS(status)
        write_frame(1, {"op": "ended", "token": start["token"], "exit": exit_desc, "leftovers": leftovers,
                        "oom": _oom_kills() > oom_before})
        spare = _spawn()  # the next runner prepares while the host reads this frame (no program runs now)


def cleanup():
    """Exec mode, after a run: kill every other process of this user (not PID 1), print how many."""
    uid = os.getuid()
    if uid == 0 or _proc_table().get(1, (0, -1))[1] != uid:
        print(0)
        return 0
    print(kill_tree(kill_all=True, spare=(os.getppid(),)))
    return 0


def main(argv):
    if argv[:1] == ["serve"]:
        return serve(argv[1] if len(argv) > 1 else "/work")
    if argv[:1] == ["run"] and len(argv) == 2:
        try:
            run(argv[1])
        finally:
            os._exit(70)
    if argv[:1] == ["cleanup"]:
        return cleanup()
    sys.stderr.write("usage: runner.py run WORKDIR | serve [WORKROOT] | cleanup\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
