"""Building the sandbox image: mirror discovery, rootfs preparation, offline and Dockerfile builds."""

import os
import uuid

import pytest

from adiff_env.cli.main import main
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.image import (
    DEFAULT_MIRROR,
    apt_mirror,
    build_from_dockerfile,
    build_image,
    build_offline,
    find_debootstrap,
    image_exists,
    prepare_rootfs,
)


def test_apt_mirror_from_deb822_and_list_files(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/x\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert apt_mirror((str(d),)) == "http://mirror.example/debian"
    lst = tmp_path / "sources.list"
    lst.write_text("deb http://security.debian.org/debian-security bookworm-security main\ndeb https://m2.example/debian/ bookworm main\n")
    assert apt_mirror((str(lst),)) == "https://m2.example/debian"
    assert apt_mirror((str(tmp_path / "missing"),)) == DEFAULT_MIRROR


def test_prepare_rootfs_adds_user_and_trims(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\n")
    (tmp_path / "usr" / "share" / "doc" / "pkg").mkdir(parents=True)
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="timeout"):
        prepare_rootfs(tmp_path)
    (tmp_path / "usr" / "bin" / "timeout").write_text("")
    prepare_rootfs(tmp_path)
    prepare_rootfs(tmp_path)  # idempotent
    assert (tmp_path / "etc" / "passwd").read_text().count("sandbox:x:1000:1000") == 1
    assert (tmp_path / "etc" / "group").read_text().count("sandbox:x:1000:") == 1
    assert list((tmp_path / "usr" / "share" / "doc").iterdir()) == []
    assert oct((tmp_path / "work").stat().st_mode & 0o7777) == "0o1777"


def test_find_debootstrap_and_clear_error_without_it(tmp_path):
    assert find_debootstrap(str(tmp_path)) is None
    with pytest.raises(RuntimeError, match="apt-get install debootstrap"):
        build_offline(None, search_path=str(tmp_path))


@pytest.mark.slow
@pytest.mark.docker
def test_dockerfile_build_or_clear_error(docker_client):
    """Builds where a registry answers; elsewhere fails with the engine's reason."""
    tag = f"adiff-sandbox:df-{uuid.uuid4().hex[:8]}"
    try:
        build_from_dockerfile(docker_client, tag=tag, log=lambda m: None)
    except RuntimeError as exc:
        assert f"docker build of {tag} failed" in str(exc)
    else:
        assert image_exists(docker_client, tag)
        docker_client.images.remove(tag, force=True)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.skipif(os.geteuid() != 0 or find_debootstrap() is None, reason="needs root and debootstrap")
def test_offline_build_makes_a_working_image(docker_client, capsys):
    from adiff_env.sandbox.docker import DockerSandbox

    tag = f"adiff-sandbox:offline-{uuid.uuid4().hex[:8]}"
    try:
        assert main(["sandbox", "build", "--offline", "--tag", tag]) == 0
        out = capsys.readouterr().out
        assert "debootstrap bookworm" in out and f"built {tag}" in out
        assert build_image(offline=True, tag=tag, log=lambda m: None) == "exists"
        with DockerSandbox(Limits(wall_s=5), pool_size=1, image=tag, client=docker_client) as box:
            result = box.run("import sys\nprint(sys.version_info[0])", ["import json, re, math, collections"])
        assert result.all_passed and result.stdout.strip() == "3"
    finally:
        if image_exists(docker_client, tag):
            docker_client.images.remove(tag, force=True)
