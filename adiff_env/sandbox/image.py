"""Build and check the sandbox image ``adiff-sandbox:py3``.

Two ways to the same image (python3 with its standard library, coreutils ``timeout``, user
``sandbox`` = 1000:1000, ``/work`` for the tmpfs, ``sleep infinity`` as command):

- :func:`build_from_dockerfile`: ``envs/sandbox/Dockerfile`` (``FROM python:3.11-slim``),
  where a registry is reachable;
- :func:`build_offline`: ``debootstrap --variant=minbase --include=python3`` a Debian into a
  temporary dir from the Debian mirror apt already uses, trim it, add the user, and
  ``docker import`` the tarball. Needs root and the ``debootstrap`` package; no registry.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from adiff_env.assets import asset_path

DEFAULT_IMAGE = "adiff-sandbox:py3"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGE_LABEL = "org.adiff.sandbox"
_IMPORT_CHANGES = [
    "USER 1000:1000",
    "WORKDIR /work",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    f"LABEL {IMAGE_LABEL}=py3",
    'CMD ["sleep", "infinity"]',
]
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")

Log = Callable[[str], None]


def docker_client():
    """A connected docker SDK client, or a ``RuntimeError`` saying how to start the engine."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise RuntimeError(
            f"No Docker engine answers ({type(exc).__name__}: {exc}). Install it (apt-get install docker.io) "
            "and start it (dockerd, or systemctl start docker), then retry."
        ) from None
    return client


def image_exists(client, tag: str = DEFAULT_IMAGE) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def apt_mirror(paths: tuple[str, ...] = ("/etc/apt/sources.list.d", "/etc/apt/sources.list")) -> str:
    """The first Debian (non-security) mirror URL in the apt sources, else deb.debian.org."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.sources")) + sorted(p.glob("*.list")) if p.is_dir() else ([p] if p.is_file() else [])
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0]
            for url in re.findall(r"(https?://\S+)", line):
                if "security" not in url and url.rstrip("/").endswith("/debian"):
                    return url.rstrip("/")
    return DEFAULT_MIRROR


def build_image(
    *, offline: bool, force: bool = False, tag: str = DEFAULT_IMAGE, mirror: str | None = None,
    suite: str = "bookworm", log: Log = print,
) -> str:
    """Build ``tag`` unless it exists (``force`` rebuilds); returns what was done."""
    client = docker_client()
    if image_exists(client, tag) and not force:
        log(f"image {tag} already exists (use --force to rebuild)")
        return "exists"
    start = time.monotonic()
    if offline:
        build_offline(client, tag=tag, mirror=mirror or apt_mirror(), suite=suite, log=log)
    else:
        build_from_dockerfile(client, tag=tag, log=log)
    log(f"built {tag} in {time.monotonic() - start:.0f} s")
    return "built"


def build_from_dockerfile(client, *, tag: str = DEFAULT_IMAGE, log: Log = print) -> None:
    """``docker build`` of ``envs/sandbox/Dockerfile`` (pulls ``python:3.11-slim``)."""
    context = asset_path("envs", "sandbox")
    log(f"building {tag} from {context / 'Dockerfile'}")
    for chunk in client.api.build(path=str(context), tag=tag, rm=True, decode=True):
        if "stream" in chunk and chunk["stream"].strip():
            log("  " + chunk["stream"].rstrip())
        if "error" in chunk:
            raise RuntimeError(f"docker build of {tag} failed: {chunk['error'].strip()}")


def find_debootstrap(search_path: str | None = None) -> str | None:
    """Path of ``debootstrap`` on ``search_path`` (default: PATH plus /usr/sbin and /sbin)."""
    if search_path is None:
        search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("debootstrap", path=search_path)


def build_offline(
    client, *, tag: str = DEFAULT_IMAGE, mirror: str = DEFAULT_MIRROR, suite: str = "bookworm", log: Log = print,
    search_path: str | None = None,
) -> None:
    """debootstrap a minimal Debian with python3 and ``docker import`` it as ``tag``."""
    debootstrap = find_debootstrap(search_path)
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed; install it (apt-get install debootstrap) and retry.")
    if os.geteuid() != 0:
        raise RuntimeError("the offline build runs debootstrap, which needs root; rerun as root (or with sudo).")
    with tempfile.TemporaryDirectory(prefix="adiff-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap {suite} (minbase + python3) from {mirror} into {rootfs} (about a minute)")
        cmd = [debootstrap, "--variant=minbase", "--include=python3", suite, str(rootfs), mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        log("trimming docs and apt caches, adding user sandbox (1000:1000)")
        prepare_rootfs(rootfs)
        tarball = Path(tmp) / "rootfs.tar"
        log("packing the root filesystem")
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        log(f"docker import as {tag} ({tarball.stat().st_size / 2**20:.0f} MiB)")
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=version, changes=_IMPORT_CHANGES)
    if not image_exists(client, tag):
        raise RuntimeError(f"docker import finished but image {tag} is missing")


def prepare_rootfs(rootfs: Path) -> None:
    """Trim a debootstrapped tree and add user/group ``sandbox`` (1000) and ``/work``."""
    for rel in _TRIM:
        target = rootfs / rel
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir(parents=True)
    etc = rootfs / "etc"
    passwd, group = etc / "passwd", etc / "group"
    if "sandbox:" not in passwd.read_text():
        with passwd.open("a") as fh:
            fh.write("sandbox:x:1000:1000::/work:/usr/sbin/nologin\n")
    if "sandbox:" not in group.read_text():
        with group.open("a") as fh:
            fh.write("sandbox:x:1000:\n")
    work = rootfs / "work"
    work.mkdir(exist_ok=True)
    work.chmod(0o1777)
    if not (rootfs / "usr" / "bin" / "timeout").exists():
        raise RuntimeError("the debootstrapped tree has no /usr/bin/timeout (coreutils); the build is broken")
