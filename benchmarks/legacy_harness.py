# Benchmark baseline only: the pre-issue-16 harness (envs/sandbox/harness.py at 1ed4024), kept to
# measure the old warm pool in the same run as the trusted verdicts. Not shipped, not used by the library.
"""Sandbox harness: run a program, then each test separately, and print one JSON report.

Runs inside the sandbox (a Docker container or a local subprocess) with only the standard
library of Python >= 3.8. Usage::

    python3 -I harness.py WORKDIR [--kill-all]    # one job (JSON) on stdin, one report out
    python3 -I harness.py serve [WORKROOT]        # a job per line in, a report per line out

The job is ``{"program": str, "tests": [str], "wall_s": float, "test_s": float | null,
"output_bytes": int, "memory_bytes": int | null, "fsize_bytes": int | null,
"nproc": int | null, "cpu_s": int | null, "message_chars": int}``.

Two processes. The *supervisor* (this process) creates WORKDIR, forks the *runner* into a
new session with rlimits and its stdout/stderr on pipes, drains those pipes (keeping at most
``output_bytes`` of each), collects one JSON line per finished step from a result pipe, and
kills the runner's whole process tree at the wall deadline. The runner executes the program
and then each test in the same namespace, each under a SIGALRM budget of
``min(test_s, time left)``, and reports each step as soon as it finishes, so a later crash,
hang or ``os._exit`` loses nothing already reported. Afterwards the supervisor kills every
descendant (it is a child subreaper, so escaped grandchildren come back to it), with
``--kill-all`` every other process of its user except PID 1 and its parent (use only where
the user owns nothing else: a sandbox container; ignored as root), removes WORKDIR and prints the report::

    {"steps": [{"kind": "program"|"test", "index": int, "passed": bool,
                "error_type": str|null, "message": str}, ...],
     "stdout": str, "stderr": str, "stdout_bytes": int, "stderr_bytes": int,
     "timed_out": bool, "oom": bool, "exit": str, "leftovers": int, "wall_s": float}

``leftovers`` counts processes still running after the runner ended (killed).

This is a correctness harness, not a security boundary: the program shares the runner's
interpreter, so it can forge what the runner reports. Isolation comes from the container.
"""

import json
import os
import resource
import selectors
import shutil
import signal
import sys
import time
import traceback


class _StepTimeout(BaseException):
    """Raised by SIGALRM inside the runner; a BaseException so ``except Exception`` misses it."""


def _message(exc, source, limit):
    text = str(exc)
    if not text and isinstance(exc, AssertionError):
        text = "assertion failed: " + source.strip()
    return text[:limit]


def _report(fd, kind, index, passed, error_type=None, message=""):
    line = json.dumps({"kind": kind, "index": index, "passed": passed,
                       "error_type": error_type, "message": message})
    os.write(fd, line.encode("utf-8", "replace") + b"\n")


def _run_step(code, namespace, budget):
    signal.setitimer(signal.ITIMER_REAL, max(budget, 0.001))
    try:
        exec(code, namespace)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def runner(job, result_fd, deadline):
    """Run the program then each test; report each step on ``result_fd``. Never returns."""

    def on_alarm(signum, frame):
        raise _StepTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    limit = int(job.get("message_chars", 500))
    test_s = job.get("test_s")
    namespace = {"__name__": "__program__", "__builtins__": __builtins__}
    sys.argv = ["program.py"]
    steps = [("program", 0, job["program"])] + [("test", i, t) for i, t in enumerate(job["tests"])]
    for kind, index, source in steps:
        budget = deadline - time.monotonic()
        if kind == "test" and test_s:
            budget = min(budget, float(test_s))
        if budget <= 0.001:
            _report(result_fd, kind, index, False, "Timeout", "time limit exceeded")
            continue
        try:
            code = compile(source, "program.py" if kind == "program" else "test_%d" % index, "exec")
            _run_step(code, namespace, budget)
        except _StepTimeout:
            _report(result_fd, kind, index, False, "Timeout", "time limit exceeded")
        except BaseException as exc:  # the program's own errors, SystemExit included
            message = _message(exc, source, limit)
            if kind == "program" and not isinstance(exc, SyntaxError):
                tb = traceback.format_exception_only(type(exc), exc)
                message = "".join(tb).strip()[:limit]
            _report(result_fd, kind, index, False, type(exc).__name__, message)
        else:
            _report(result_fd, kind, index, True)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    os._exit(0)


def _set_limits(job):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "fsize_bytes"),
                      ("RLIMIT_NPROC", "nproc")):
        value = job.get(key)
        if value:
            resource.setrlimit(getattr(resource, name), (int(value), int(value)))
    if job.get("cpu_s"):
        cpu = int(job["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _prctl(option, value):
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


def _become_subreaper():
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def _proc_table():
    """Map pid -> (ppid, uid) of live (non-zombie) processes, from /proc."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if fields["State"].split()[0] in ("Z", "X"):
                continue
            table[int(name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return table


def kill_tree(kill_all=False):
    """SIGKILL every descendant of this process (and, with ``kill_all``, every process of
    this user but PID 1, this process and its parent), reap them, and return the reaped
    ``({pid: wait status}, number of processes killed)``. Repeats until nothing is left, since a fork bomb keeps forking
    between rounds; as a child subreaper, orphaned grandchildren come back to us."""
    me, parent, uid = os.getpid(), os.getppid(), os.getuid()
    if kill_all and (uid == 0 or _proc_table().get(1, (0, -1))[1] != uid):
        # Only inside a sandbox container (PID 1 runs as this same non-root user): on a host,
        # or as root, it would kill processes that are not the program's.
        kill_all = False
    reaped, killed = {}, set()
    for _ in range(100):
        table = _proc_table()
        victims, frontier = set(), [me]
        while frontier:
            pid = frontier.pop()
            for child, (ppid, _) in table.items():
                if ppid == pid and child not in victims and child != me:
                    victims.add(child)
                    frontier.append(child)
        if kill_all:
            victims |= {p for p, (_, u) in table.items() if u == uid and p not in (1, me, parent)}
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped[pid] = status
        if not victims:
            break
        time.sleep(0.005)
    return reaped, len(killed)


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


def supervise(job, workdir, kill_all=False):
    """Fork the runner, collect its output and reports until done or the deadline."""
    start = time.monotonic()
    deadline = start + float(job["wall_s"])
    cap = int(job.get("output_bytes", 65536))
    oom_before = _oom_kills()
    _become_subreaper()
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the runner
        try:
            os.setsid()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _prctl(4, 1)  # PR_SET_DUMPABLE: the server is not, the program may be
            os.chdir(workdir)
            os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PYTHONIOENCODING": "utf-8"})
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (null, out_r, out_w, err_r, err_w, res_r):
                os.close(fd)
            sys.stdin = open(0, closefd=False)
            sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
            sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
            _set_limits(job)
            runner(job, res_w, deadline)
        finally:
            os._exit(70)
    for fd in (out_w, err_w, res_w):
        os.close(fd)
    buffers = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
    totals = {out_r: 0, err_r: 0, res_r: 0}
    sel = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    timed_out, status, drain_until = False, None, None
    while sel.get_map():
        now = time.monotonic()
        if status is None and now >= deadline + 0.25:  # the runner's own alarm fires first
            timed_out = True
            status = kill_tree()[0].get(pid, 9)  # 9: as if SIGKILLed
            drain_until = now + 0.1
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
                drain_until = now + 0.2
        if drain_until is not None and now >= drain_until:
            break  # the runner is gone; a leftover grandchild keeps a pipe open
        for key, _ in sel.select(timeout=0.02):
            fd = key.fd
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(fd)
                continue
            totals[fd] += len(chunk)
            room = (1 << 24 if fd == res_r else cap) - len(buffers[fd])
            if room > 0:
                buffers[fd] += chunk[:room]
    if status is None:
        _, status = os.waitpid(pid, 0)
    leftovers = kill_tree(kill_all)[1]
    for fd in buffers:
        os.close(fd)
    steps = []
    for line in bytes(buffers[res_r]).decode("utf-8", "replace").splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        exit_desc = "signal %s" % (signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig)
        if sig == signal.SIGXCPU:
            timed_out = True
    else:
        exit_desc = "exit %d" % os.WEXITSTATUS(status)
    timed_out = timed_out or any(s.get("error_type") == "Timeout" for s in steps)
    oom = _oom_kills() > oom_before or any(s.get("error_type") == "MemoryError" for s in steps)
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "steps": steps,
        "stdout": bytes(buffers[out_r]).decode("utf-8", "replace"),
        "stderr": bytes(buffers[err_r]).decode("utf-8", "replace"),
        "stdout_bytes": totals[out_r],
        "stderr_bytes": totals[err_r],
        "timed_out": timed_out,
        "oom": oom,
        "exit": exit_desc,
        "leftovers": leftovers,
        "wall_s": time.monotonic() - start,
    }


def serve(stdin, stdout, workroot="/work"):
    """Serve jobs, one JSON line ``{"nonce": hex, "job": {...}}`` each, answering one line
    ``{"nonce": hex, "report": {...}}`` (or ``"error"``) per job, each in a fresh work dir
    ``WORKROOT/r<nonce>``, followed by ``--kill-all`` cleanup when PID 1 and not root. Meant to run as PID 1 of a
    sandbox container, where the program cannot signal it; it makes itself non-dumpable so
    the program (same user) cannot open its files or trace it."""
    # --kill-all cleanup only where it is safe: PID 1 of a container, not root
    kill_all = os.getpid() == 1 and os.getuid() != 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(4, 0)  # PR_SET_DUMPABLE = 0
    for line in stdin:
        nonce = ""
        try:
            message = json.loads(line.decode("utf-8"))
            nonce = str(message["nonce"])
            if not nonce.isalnum():
                raise ValueError("nonce must be alphanumeric")
            reply = {"nonce": nonce, "report": supervise(message["job"], os.path.join(workroot, "r" + nonce), kill_all)}
        except Exception:
            reply = {"nonce": nonce, "error": traceback.format_exc()[-2000:]}
        stdout.write(json.dumps(reply).encode("utf-8") + b"\n")
        stdout.flush()
    return 0


def main(argv):
    if argv[:1] == ["serve"]:
        return serve(sys.stdin.buffer, sys.stdout.buffer, *argv[1:2])
    if len(argv) < 1:
        sys.stderr.write("usage: harness.py WORKDIR [--kill-all] < job.json  |  harness.py serve [WORKROOT]\n")
        return 2
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    report = supervise(job, argv[0], kill_all="--kill-all" in argv[1:])
    sys.stdout.write(json.dumps(report))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
