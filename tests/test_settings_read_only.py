"""Settings only read the environment: loading them writes nothing under the var dir, and a
missing secret key is a clear error naming the two ways to give one. `./mgx` makes the key once
(mode 0600) before it starts anything that loads the settings."""
import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LOAD = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY))"


def _env(var_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MGX_", "OTEL_")) and k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(MGX_ENV_FILE="", MGX_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="mgx_site.settings.base",
               DATABASE_URL=f"sqlite:///{var_dir}/db.sqlite3", MGX_OTEL_ENABLED="false", **extra)
    return env


def test_settings_without_a_secret_key_say_how_to_get_one_and_write_nothing(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=REPO, env=_env(var_dir), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "No secret key: set MGX_SECRET_KEY, or run ./mgx up once" in done.stderr
    assert list(var_dir.iterdir()) == []


def test_the_cli_makes_the_key_once_and_the_settings_read_it(tmp_path):
    var_dir = tmp_path / "var"
    probe = "from mgx_site.cli import commands; layout, env = commands._config(); print(layout.var_dir)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=_env(var_dir), check=True, timeout=60,
                       capture_output=True)
    key_file = var_dir / "secret_key"
    key = key_file.read_text()
    assert len(key) > 40 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    loaded = subprocess.run([sys.executable, "-c", LOAD], cwd=REPO, env=_env(var_dir), capture_output=True, text=True,
                            timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == str(len(key))
    assert key_file.read_text() == key  # made once, never replaced
