"""infra/docker-compose.yml as an operator uses it: valid with the example env file, refusing to
start without its secrets, and the Docker socket only where MGX starts or reads containers.
(Building the image itself is .ci/production-check's job: minutes, not a unit test.)"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = ["docker", "compose"] if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0 \
    else ["docker-compose"]

pytestmark = pytest.mark.skipif(COMPOSE == ["docker-compose"] and not shutil.which("docker-compose"),
                                reason="no docker compose (Debian: apt-get install docker-compose)")


def _config(env_file: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MGX_")}
    return subprocess.run([*COMPOSE, "--env-file", str(env_file), "-f", str(REPO / "infra/docker-compose.yml"), "config"],
                          capture_output=True, text=True, env=env, cwd=REPO)


def test_the_compose_file_is_valid_and_the_socket_goes_only_where_containers_are_started():
    done = _config(REPO / "infra/production.env.example")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {"web", "gateway", "worker", "migrate", "redis", "mongo", "apps-mongo", "postgres"} <= set(services)
    with_socket = {name for name, svc in services.items()
                   if any("docker.sock" in (v if isinstance(v, str) else v.get("source", "")) for v in svc.get("volumes", []))}
    assert with_socket == {"web", "worker"}
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://mgx:change-me-too@postgres:5432/")
    # The apps' MongoDB, which app containers reach, enforces authentication: each app gets a user.
    assert services["apps-mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == "changeMeThree"
    for service in ("web", "worker"):
        env = services[service]["environment"]
        assert env["MGX_APPS_MONGO_AUTH"] == "true"
        assert env["MGX_APPS_MONGO_URL"] == "mongodb://mgx:changeMeThree@apps-mongo:27017/?authSource=admin"


def test_without_its_secrets_compose_refuses_and_names_the_missing_one(tmp_path):
    partial = tmp_path / "production.env"
    partial.write_text("MGX_POSTGRES_PASSWORD=x\nMGX_PUBLIC_URL=https://m.example\nMGX_APPS_URL=https://a.example\n")
    done = _config(partial)
    assert done.returncode != 0 and "MGX_SECRET_KEY" in done.stderr
