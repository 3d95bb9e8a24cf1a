"""The base and runtime images, on the real Docker engine.

The session fixture `runtime_image` builds the images once per machine (they stay in the
engine); the tests that build more use throwaway names and remove them again.
"""
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from containers import images
from containers.images import (
    RECIPE_LABEL,
    RUNTIME_CA_PATH,
    ImageError,
    dev_image_status,
    images_ensure,
    images_status,
)


@pytest.fixture(scope="module")
def engine():
    from django.conf import settings

    client = docker.DockerClient(base_url=settings.MGX_DOCKER_HOST, timeout=120)
    yield client
    client.close()


@pytest.fixture
def throwaway(engine):
    """Image names no one else uses; whatever a test made under them is removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    names = {"base": f"mgx-test/base:{tag}", "runtime": f"mgx-test/runtime:{tag}"}
    yield names
    for name in (names["runtime"], names["base"]):
        try:
            engine.images.remove(name, force=True)
        except ImageNotFound:
            pass


def _run(engine, image, script, user="root"):
    out = engine.containers.run(image, ["bash", "-c", script], user=user, remove=True, stdout=True, stderr=True)
    return out.decode()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exists(engine, name) -> bool:
    try:
        engine.images.get(name)
        return True
    except ImageNotFound:
        return False


def test_runtime_image_exists_and_is_current(runtime_image, engine, settings):
    image = engine.images.get(runtime_image)
    assert runtime_image == settings.MGX_RUNTIME_IMAGE
    assert image.labels["org.mgx.image"] == "runtime"
    assert image.labels[RECIPE_LABEL]
    assert _exists(engine, settings.MGX_BASE_IMAGE)
    assert images_status(docker_url=settings.MGX_DOCKER_HOST, base=settings.MGX_BASE_IMAGE,
                         runtime=runtime_image, ca_bundle=settings.MGX_EXTRA_CA_BUNDLE) == []


def test_runtime_container_has_node_18_npm_python_venv_git_and_sshd(runtime_image, engine):
    out = _run(engine, runtime_image, """
        set -e
        echo "node=$(node --version)"
        echo "npm=$(npm --version)"
        echo "python=$(python3 --version)"
        python3 -m venv /tmp/venv && echo "venv=$(/tmp/venv/bin/python -m pip --version | cut -d' ' -f1-2)"
        echo "git=$(git --version)"
        /usr/sbin/sshd -t && echo "sshd=ok"
        echo "sshd_password=$(/usr/sbin/sshd -T | grep -i '^passwordauthentication ')"
        echo "app=$(id -u app):$(stat -c %U /workspace):$(getent passwd app | cut -d: -f6)"
        echo "tini=$(tini --version)"
        echo "cwd=$(pwd)"
    """)
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert facts["node"].startswith("v18."), out
    assert facts["npm"].split(".")[0].isdigit(), out
    assert facts["python"].startswith("Python 3."), out
    assert facts["venv"].startswith("pip "), out
    assert facts["git"].startswith("git version"), out
    assert facts["sshd"] == "ok", out
    assert facts["sshd_password"] == "passwordauthentication no", out
    assert facts["app"] == "1000:app:/home/app", out
    assert facts["tini"].startswith("tini version"), out
    assert facts["cwd"] == "/workspace", out


def test_npm_and_pip_reach_the_registries_through_the_ca_bundle(runtime_image, engine):
    out = _run(engine, runtime_image, f"""
        set -e
        test "$PIP_CERT" = {RUNTIME_CA_PATH} && test "$NODE_EXTRA_CA_CERTS" = {RUNTIME_CA_PATH}
        test "$(npm config get cafile)" = {RUNTIME_CA_PATH}
        cd /tmp
        echo "is-number=$(npm view is-number version)"
        python3 -m venv /tmp/venv
        /tmp/venv/bin/pip download -q --no-deps -d /tmp/dl six
        echo "six=$(ls /tmp/dl)"
    """, user="app")
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert facts["is-number"][0].isdigit(), out
    assert facts["six"].startswith("six-") and facts["six"].endswith(".whl"), out


def test_second_ensure_builds_nothing_and_says_so(runtime_image, engine, settings):
    before = {name: engine.images.get(name).id for name in (settings.MGX_BASE_IMAGE, runtime_image)}
    lines = []
    made = images_ensure(progress=lines.append)
    assert made["base"]["action"] == "exists"
    assert made["runtime"]["action"] == "up to date"
    assert made["agent"]["action"] == made["dev"]["action"] == "up to date"
    assert {made["base"]["name"]: made["base"]["id"], made["runtime"]["name"]: made["runtime"]["id"]} == before
    assert any("exists" in line and "nothing to do" in line for line in lines), lines
    assert any("up to date" in line and "nothing to do" in line for line in lines), lines
    assert not any("step " in line or "debootstrap" in line for line in lines), lines


def test_a_changed_ca_bundle_rebuilds_the_runtime_and_puts_the_bundle_in(runtime_image, engine, settings, throwaway, tmp_path):
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    first_cert = host_bundle[: host_bundle.index("-----END CERTIFICATE-----") + 26]
    bundle = tmp_path / "extra.pem"
    bundle.write_text(first_cert)
    settings.MGX_RUNTIME_IMAGE = throwaway["runtime"]
    settings.MGX_EXTRA_CA_BUNDLE = str(bundle)

    assert images_ensure(progress=lambda line: None, agent=False)["runtime"]["action"] == "built"
    assert images_ensure(progress=lambda line: None, agent=False)["runtime"]["action"] == "up to date"
    out = _run(engine, throwaway["runtime"], f"cat /usr/local/share/mgx/extra-ca.crt; grep -c 'BEGIN CERT' {RUNTIME_CA_PATH}")
    assert first_cert.strip() in out

    bundle.write_text(first_cert + "\n" + first_cert)
    reasons = images_status(docker_url=settings.MGX_DOCKER_HOST, base=settings.MGX_BASE_IMAGE,
                            runtime=throwaway["runtime"], ca_bundle=str(bundle))
    assert reasons and "out of date" in reasons[0]
    lines = []
    assert images_ensure(progress=lines.append, agent=False)["runtime"]["action"] == "built"
    assert any("out of date" in line for line in lines), lines
    # The real runtime image is not touched by builds under other names.
    assert engine.images.get(runtime_image).labels[RECIPE_LABEL]


def test_an_unreachable_mirror_fails_the_base_build_clearly_and_tags_nothing(engine, settings, throwaway):
    mirror = f"http://127.0.0.1:{_closed_port()}/debian"
    settings.MGX_BASE_IMAGE = throwaway["base"]
    settings.MGX_RUNTIME_IMAGE = throwaway["runtime"]
    settings.MGX_BASE_PULL = ""  # straight to debootstrap, even where a registry answers
    settings.MGX_DEBIAN_MIRROR = mirror
    temp_before = set(Path(tempfile.gettempdir()).glob("mgx-base-*"))

    with pytest.raises(ImageError) as failed:
        images_ensure(progress=lambda line: None, agent=False)

    message = str(failed.value)
    assert "debootstrap" in message and mirror in message and "MGX_DEBIAN_MIRROR" in message, message
    assert not _exists(engine, throwaway["base"])
    assert not _exists(engine, throwaway["runtime"])
    assert set(Path(tempfile.gettempdir()).glob("mgx-base-*")) == temp_before


def test_a_failed_runtime_build_names_the_step_and_tags_nothing(runtime_image, engine, settings, throwaway):
    mirror = f"http://127.0.0.1:{_closed_port()}/debian"
    settings.MGX_RUNTIME_IMAGE = throwaway["runtime"]
    settings.MGX_DEBIAN_MIRROR = mirror
    real = engine.images.get(runtime_image).id

    with pytest.raises(ImageError) as failed:
        images_ensure(progress=lambda line: None, agent=False)

    message = str(failed.value)
    assert f"building {throwaway['runtime']} failed at step " in message and "exited with code" in message, message
    assert f"MGX_DEBIAN_MIRROR={mirror}" in message, message
    assert "last lines of the build" in message, message
    assert not _exists(engine, throwaway["runtime"])
    assert engine.images.get(runtime_image).id == real


def test_the_dev_image_holds_the_templates_dependencies_and_follows_their_lock_files(
        runtime_image, engine, settings, tmp_path, monkeypatch):
    from deployments.services import _dev_image

    # Installed ahead at the paths the dev scripts copy from (containers.frameworks), the
    # virtualenv made at the path a dev container uses.
    out = _run(engine, settings.MGX_DEV_IMAGE, "ls /opt/mgx-warm/npm/nextjs/node_modules/next/package.json "
               "/opt/mgx-warm/npm/fastapi_vite-frontend/node_modules/vite/package.json; "
               "head -1 /opt/mgx-warm/pip/fastapi_vite-backend/.venv/bin/uvicorn", user="app")
    assert "next/package.json" in out and "vite/package.json" in out and "#!/workspace/backend/.venv/bin/python" in out, out
    status = {"docker_url": settings.MGX_DOCKER_HOST, "runtime": runtime_image, "dev": settings.MGX_DEV_IMAGE}
    assert dev_image_status(**status) == ""
    assert _dev_image() == settings.MGX_DEV_IMAGE  # dev servers start from it

    # A template whose lock file changed (an upgrade of MGX): the image is out of date, and dev
    # servers start from the runtime image (installing everything) until it is made again.
    changed = tmp_path / "app_templates"
    shutil.copytree(images.TEMPLATES_DIR, changed, ignore=shutil.ignore_patterns("node_modules", ".venv"))
    lock = changed / "nextjs" / "package-lock.json"
    lock.write_text(lock.read_text().replace('"lockfileVersion"', '"mgxChanged": true, "lockfileVersion"', 1))
    monkeypatch.setattr(images, "TEMPLATES_DIR", changed)
    assert "out of date" in dev_image_status(**status)
    assert _dev_image() == settings.MGX_RUNTIME_IMAGE
    settings.MGX_DEV_IMAGE = "mgx-test/no-such-dev:1"
    assert "is missing" in dev_image_status(**{**status, "dev": settings.MGX_DEV_IMAGE})
