"""``adiff sandbox build|check``: make the sandbox image and check that Docker runs it."""

from __future__ import annotations

import argparse
import time

from adiff_env.cli._common import SANDBOX_BUILD, CLIError

_CHECK_PROGRAM = "def add(a, b):\n    return a + b\n"
_CHECK_TESTS = ["assert add(1, 2) == 3", "assert add(1, 2) == 4"]  # the second must fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox",
        help="build the Docker sandbox image or check the engine",
        description="Build the image adiff-sandbox:py3 (from envs/sandbox/Dockerfile, or with "
        "--offline by debootstrapping Debian + python3 and `docker import`), or check the "
        "engine, the image and one test run.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser("build", help="build the sandbox image (skips if it exists)")
    b.add_argument("--offline", action="store_true", help="debootstrap + docker import; needs root and debootstrap, no registry")
    b.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    b.add_argument("--tag", default=None, help="image tag (default adiff-sandbox:py3)")
    b.add_argument("--mirror", default=None, help="Debian mirror for --offline (default: the one apt uses)")
    b.add_argument("--suite", default="bookworm", help="Debian suite for --offline (default bookworm)")
    b.set_defaults(func=run_build)
    c = actions.add_parser("check", help="report engine version, image presence and a test run")
    c.add_argument("--tag", default=None, help="image tag (default adiff-sandbox:py3)")
    c.set_defaults(func=run_check)


def run_build(args: argparse.Namespace) -> int:
    from adiff_env.sandbox.image import DEFAULT_IMAGE, build_image

    try:
        build_image(offline=args.offline, force=args.force, tag=args.tag or DEFAULT_IMAGE, mirror=args.mirror, suite=args.suite,
                    log=lambda m: print(m, flush=True))
    except RuntimeError as exc:
        raise CLIError(str(exc)) from None
    return 0


def run_check(args: argparse.Namespace) -> int:
    from adiff_env.sandbox.docker import DockerSandbox
    from adiff_env.sandbox.image import DEFAULT_IMAGE, docker_client, image_exists

    tag = args.tag or DEFAULT_IMAGE
    try:
        client = docker_client()
    except RuntimeError as exc:
        raise CLIError(str(exc)) from None
    version = client.version()
    print(f"engine:   Docker {version.get('Version')} (API {version.get('ApiVersion')}, {version.get('Os')}/{version.get('Arch')})")
    if not image_exists(client, tag):
        print(f"image:    {tag} MISSING; build it with `{SANDBOX_BUILD}` (or without --offline where a registry is reachable)")
        return 1
    image = client.images.get(tag)
    print(f"image:    {tag} {image.short_id} ({image.attrs.get('Size', 0) / 2**20:.0f} MiB)")
    start = time.monotonic()
    with DockerSandbox(pool_size=1, image=tag, client=client) as sandbox:
        host = sandbox.containers()[0].attrs["HostConfig"]
        result = sandbox.run(_CHECK_PROGRAM, _CHECK_TESTS, entry_point="add")  # a trusted verdict
    elapsed = time.monotonic() - start
    ok = [t.passed for t in result.tests] == [True, False] and result.error is None and result.trusted
    print(
        f"isolation: network={host.get('NetworkMode')} read_only={host.get('ReadonlyRootfs')} "
        f"cap_drop={host.get('CapDrop')} security_opt={host.get('SecurityOpt')} pids_limit={host.get('PidsLimit')} "
        f"memory={host.get('Memory', 0) >> 20}MiB swap={'none' if host.get('MemorySwap') == host.get('Memory') else 'yes'}"
    )
    print(f"test run: {result.passed}/{len(result.tests)} passed (expected 1/2) in {elapsed:.2f} s -> {'OK' if ok else 'FAILED'}")
    if not ok:
        print(f"          result: {result}")
    return 0 if ok else 1
