"""Hostile programs shared by the ProcessSandbox and DockerSandbox tests."""

import os

# A process the program leaves behind is recognisable on the host by this sleep argument.
ORPHAN_SECONDS = "3017"

INFINITE_LOOP = "while True:\n    pass\n"
SLEEP_PAST_LIMIT = "import time\ntime.sleep(600)\n"
ORPHAN = f"import subprocess\nsubprocess.Popen(['sleep', '{ORPHAN_SECONDS}'], start_new_session=True)\n"
DAEMON = (
    "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    f"        os.execvp('sleep', ['sleep', '{ORPHAN_SECONDS}'])\n"
    "    os._exit(0)\n"
)
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
MEMORY_BOMB = "hog = []\nwhile True:\n    hog.append(bytearray(10 ** 7))\n"
# Several processes, each under the address-space limit, together over the container's memory.
MEMORY_BOMB_PROCESSES = (
    "import os, time\n"
    "for _ in range(4):\n"
    "    if os.fork() == 0:\n"
    "        x = bytearray(150 * 2**20)\n"
    "        for j in range(0, len(x), 4096):\n"
    "            x[j] = 1\n"
    "        time.sleep(30)\n"
    "        os._exit(0)\n"
    "for _ in range(4):\n"
    "    os.wait()\n"
)
HUGE_FILE = "with open('huge.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 2**20)\n"
PRINT_100MB = "import sys\nchunk = 'x' * 2**20\nfor _ in range(100):\n    sys.stdout.write(chunk)\n"
KILL_HARNESS = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
HEALTHY = "def add(a, b):\n    return a + b\n"
HEALTHY_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]


def host_orphans() -> list[int]:
    """PIDs of processes on this host whose command line is ``sleep ORPHAN_SECONDS``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                if fh.read().split(b"\0")[:2] == [b"sleep", ORPHAN_SECONDS.encode()]:
                    found.append(int(name))
        except OSError:
            continue
    return found
