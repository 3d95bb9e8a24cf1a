"""The local processes MGX runs on: Redis, the MongoDB-compatible store, Daphne, the apps gateway
(nginx and MGX's access check beside it), a Celery worker, and (when nothing answers) the
Docker engine.

`./mgx` and the test suite's session fixtures both use this module, so the tests run on exactly
what `./mgx up` starts. It deliberately imports nothing from Django: it runs before the
database exists and must work when Django cannot even start.

Each process is started in its own session (it outlives the command that started it), writes
its output to `<var>/log/<name>.log`, and is remembered in `<var>/run/<name>.pid`. A pid file
only counts when that pid is alive *and* its command line is the expected program, so a stale
file left by a crash or a reused pid is never mistaken for a running service.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from core.probes import docker_probe, mongo_probe, port_taken, redis_probe, tcp_open
from mgx_site import defaults

BASE_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent  # the virtualenv's bin: daphne, celery, nx-27017 live here


class ServiceError(Exception):
    """A service could not be started or reached; the message names it and says why."""

    def __init__(self, service: str, message: str):
        super().__init__(f"{service}: {message}")
        self.service = service


@dataclass
class Layout:
    """Where one stack keeps its pid files, logs and data."""

    var_dir: Path

    def __post_init__(self):
        self.var_dir = Path(self.var_dir)

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def ensure(self) -> None:
        for d in (self.var_dir, self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)


@dataclass
class Proc:
    name: str  # file names and CLI argument: redis, mongo, daphne, celery
    label: str  # what people read: "Redis", "MongoDB store"
    address: str  # shown by status
    argv: list[str]
    marker: str  # must appear in /proc/<pid>/cmdline for a pid file to count
    answers: Callable[[], bool]  # the service does its job (ping, TCP accept, worker ready)
    host: str | None = None
    port: int | None = None
    port_setting: str = ""  # the variable to change when the port is taken
    # Further (host, port, setting) it listens on (Daphne's internal listener): each must be
    # free before a start, and a start is ready only once every one answers.
    also_listens: tuple[tuple[str, int, str], ...] = ()
    reuse_foreign: bool = False  # someone else's Redis/MongoDB at the address is fine to use
    start_timeout: float = 30.0
    missing_hint: str = ""  # how to install the program when it is not there
    env: dict[str, str] = field(default_factory=dict)
    # For processes with no port (the Celery worker): a fresh start is ready once this line
    # shows up in the part of its log written since the start.
    ready_log_line: str = ""
    # PostgreSQL's SIGTERM waits for every client to leave; it gets SIGINT ("fast": clients
    # are disconnected, nothing committed is lost).
    stop_signal: int = signal.SIGTERM


    def listens(self) -> list[tuple[str, int, str]]:
        first = [(self.host or "127.0.0.1", self.port, self.port_setting)] if self.port is not None else []
        return first + list(self.also_listens)

    def taken_port_error(self) -> ServiceError | None:
        """The error to stop on when another program holds one of its ports."""
        for host, port, setting in self.listens():
            if port_taken(host, port):
                hint = f"; free it or set {setting} to another port" if setting else ""
                return ServiceError(self.label, f"port {port} on {host} is already in use by another program{hint}")
        return None


@dataclass
class StartResult:
    proc: Proc
    pid: int | None
    started: bool  # False: it was already running (ours) or someone else's answered
    note: str


# ---------------------------------------------------------------- probes

def redis_answers(url: str) -> bool:
    return redis_probe(url, timeout=0.5).up


def mongo_answers(url: str, *, command: str = "ping") -> bool:
    return mongo_probe(url, timeout=0.5, command=command).up


def docker_answers(url: str) -> bool:
    return docker_probe(url, timeout=3).up


def docker_bridge_address(url: str) -> str:
    """The host's address on Docker's default bridge (docker0): what `host-gateway` means to a
    container, so the agent containers reach MGX's internal listener there. From the engine's
    `bridge` network (its IPAM gateway, else the subnet's first address), or Docker's usual
    172.17.0.1 when the engine does not answer."""
    import ipaddress

    import docker

    try:
        client = docker.DockerClient(base_url=url, timeout=3)
        try:
            ipam = client.networks.get("bridge").attrs.get("IPAM") or {}
        finally:
            client.close()
        for config in ipam.get("Config") or []:
            if config.get("Gateway"):
                return config["Gateway"]
            if config.get("Subnet") and ":" not in config["Subnet"]:
                return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
    except Exception:
        pass
    return defaults.DOCKER_BRIDGE_ADDRESS


def internal_listener(cfg: dict[str, str]) -> tuple[str, int]:
    """(host, port) of Daphne's internal listener for agent containers (docs/settings.md)."""
    host = cfg.get("MGX_INTERNAL_HOST") or docker_bridge_address(cfg.get("DOCKER_HOST") or defaults.DOCKER_HOST)
    port = int(cfg.get("MGX_INTERNAL_PORT") or defaults.internal_port(cfg.get("MGX_PORT") or defaults.MGX_PORT))
    return host, port


# ---------------------------------------------------------------- pid files

def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by a parent that is still around) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def running_pid(layout: Layout, proc: Proc) -> int | None:
    path = layout.pidfile(proc.name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid) and proc.marker in _cmdline(pid):
        return pid
    return None


# ---------------------------------------------------------------- start / stop

def start(layout: Layout, proc: Proc, *, env: dict[str, str] | None = None) -> StartResult:
    layout.ensure()
    pid = running_pid(layout, proc)
    if pid is not None:
        if proc.answers():
            return StartResult(proc, pid, False, f"already running (pid {pid})")
        # Ours but not answering: probably still starting from a previous command; wait for it.
        if _wait(proc, pid):
            return StartResult(proc, pid, False, f"already running (pid {pid})")
        raise ServiceError(proc.label, f"pid {pid} is running but does not answer at {proc.address}; see {layout.logfile(proc.name)}")
    layout.pidfile(proc.name).unlink(missing_ok=True)

    if proc.reuse_foreign and proc.answers():
        return StartResult(proc, None, False, f"already answering at {proc.address} (not started by MGX; using it)")
    if (taken := proc.taken_port_error()) is not None:
        raise taken
    program = proc.argv[0]
    if shutil.which(program) is None and not Path(program).exists():
        raise ServiceError(proc.label, f"{Path(program).name} is not installed{' — ' + proc.missing_hint if proc.missing_hint else ''}")

    logfile = layout.logfile(proc.name)
    offset = logfile.stat().st_size if logfile.exists() else 0
    child_env = dict(os.environ if env is None else env)
    child_env.update(proc.env)
    with open(logfile, "ab") as log:
        child = subprocess.Popen(
            proc.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=BASE_DIR,
            env=child_env,
            start_new_session=True,
        )
    layout.pidfile(proc.name).write_text(str(child.pid))
    if not _wait(proc, child.pid, child=child, log=(logfile, offset)):
        rc = child.poll()
        _terminate(child.pid)
        layout.pidfile(proc.name).unlink(missing_ok=True)
        why = f"exited with code {rc}" if rc is not None else f"did not answer at {proc.address} within {proc.start_timeout:.0f} s"
        raise ServiceError(proc.label, f"{why} while starting. Last lines of {logfile}:\n{_new_log(logfile, offset)}")
    return StartResult(proc, child.pid, True, f"started (pid {child.pid})")


def _new_log(path: Path, offset: int, lines: int = 12) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:]) or "    (nothing logged)"


def _wait(proc: Proc, pid: int, *, child: subprocess.Popen | None = None, log: tuple[Path, int] | None = None) -> bool:
    def ready() -> bool:
        if proc.ready_log_line and log is not None:
            return proc.ready_log_line in _new_log(*log, lines=10_000)
        return proc.answers()

    deadline = time.monotonic() + proc.start_timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return False
        if child is None and not _alive(pid):
            return False
        if ready():
            return True
        time.sleep(0.2)
    return False


def _terminate(pid: int, timeout: float = 15.0, first: int = signal.SIGTERM) -> None:
    """SIGTERM the process group (workers, reloaders), SIGKILL what is left after the timeout."""
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            except ChildProcessError:
                pass
            if not _alive(pid):
                return
            time.sleep(0.1)


def stop(layout: Layout, proc: Proc) -> int | None:
    """Stop the process if it is ours; returns the pid that was stopped."""
    pid = running_pid(layout, proc)
    if pid is not None:
        _terminate(pid, first=proc.stop_signal)
    layout.pidfile(proc.name).unlink(missing_ok=True)
    return pid


# ---------------------------------------------------------------- the stack

def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def stack(layout: Layout, cfg: dict[str, str]) -> list[Proc]:
    """The processes of one MGX instance, in start order. `cfg` is the environment they run with
    (MGX_REDIS_URL, MGX_MONGO_URL, MGX_HOST, MGX_PORT, DJANGO_SETTINGS_MODULE...)."""
    redis_url = cfg.get("MGX_REDIS_URL") or defaults.MGX_REDIS_URL
    mongo_url = cfg.get("MGX_MONGO_URL") or defaults.MGX_MONGO_URL
    d_host, d_port = cfg.get("MGX_HOST") or defaults.MGX_HOST, int(cfg.get("MGX_PORT") or defaults.MGX_PORT)
    g_host, g_port = cfg.get("MGX_APPS_HOST", d_host), int(cfg.get("MGX_APPS_PORT") or defaults.MGX_APPS_PORT)
    proxied = cfg.get("MGX_PROXY_HEADERS", "").lower() in ("1", "true", "yes")
    i_host, i_port = internal_listener(cfg)
    return [*_stores(layout, cfg, redis_url=redis_url, mongo_url=mongo_url, i_host=i_host), *_web(
        layout, cfg, redis_url=redis_url, d_host=d_host, d_port=d_port, g_host=g_host, g_port=g_port,
        proxied=proxied, i_host=i_host, i_port=i_port)]


def apps_store(layout: Layout, cfg: dict[str, str]) -> Proc | None:
    """The apps' MongoDB store, unless MGX_APPS_MONGO_URL names one elsewhere. It has no users, so
    it listens on loopback only, for MGX itself (provisioning, the Database tab); app containers
    reach it through `apps_guard`."""
    if cfg.get("MGX_APPS_MONGO_URL"):
        return None
    port = int(cfg.get("MGX_APPS_MONGO_STORE_PORT") or defaults.MGX_APPS_MONGO_STORE_PORT)
    data = layout.var_dir / "apps-mongo"
    data.mkdir(parents=True, exist_ok=True)
    url = f"mongodb://127.0.0.1:{port}/"
    return Proc(
        name="apps-mongo", label="Apps' MongoDB store", address=url,
        argv=[str(BIN_DIR / "nx-27017"), "--data-dir", str(data), "--host", "127.0.0.1", "-p", str(port),
              "--log-file", str(layout.logfile("apps-mongo-server")),
              "--pid-file", str(layout.run_dir / "apps-nx-27017.own.pid")],
        marker="nx-27017", answers=lambda: mongo_answers(url),
        host="127.0.0.1", port=port, port_setting="MGX_APPS_MONGO_STORE_PORT",
        missing_hint="reinstall MGX's Python environment (rm -rf .venv; ./mgx up)",
    )


def apps_guard(layout: Layout, cfg: dict[str, str], *, i_host: str) -> Proc | None:
    """The guard in front of the apps' store (databases/guard.py), where app containers reach
    their MongoDB: the Docker bridge address (host.docker.internal to them), not loopback. Each
    app's own user opens its own database there and nothing else. None when the store is not
    MGX's own (MGX_APPS_MONGO_URL)."""
    if cfg.get("MGX_APPS_MONGO_URL"):
        return None
    host = i_host.strip("[]")
    port = int(cfg.get("MGX_APPS_MONGO_PORT") or defaults.MGX_APPS_MONGO_PORT)
    store_port = int(cfg.get("MGX_APPS_MONGO_STORE_PORT") or defaults.MGX_APPS_MONGO_STORE_PORT)
    url = f"mongodb://{i_host}:{port}/"
    return Proc(
        name="apps-mongo-guard", label="Apps' MongoDB guard", address=url,
        argv=[str(BIN_DIR / "python"), "-m", "databases.guard", "--host", host, "--port", str(port),
              "--upstream", f"127.0.0.1:{store_port}"],
        # Before an app authenticates, only the handshake answers: that is the probe.
        marker="databases.guard", answers=lambda: mongo_answers(url, command="hello"),
        host=host, port=port, port_setting="MGX_APPS_MONGO_PORT", start_timeout=45.0,
    )


# ---------------------------------------------------------------- PostgreSQL (MGX_POSTGRES=1)

POSTGRES_PORT = 5544  # not Debian's own cluster's 5432
POSTGRES_USER = "mgx"  # the cluster's superuser, and owner of MGX's database
POSTGRES_DB = "mgx"
POSTGRES_SYSTEM_USER = "postgres"  # made by Debian's package; PostgreSQL refuses to run as root


def postgres_wanted(cfg: dict[str, str]) -> bool:
    return (cfg.get("MGX_POSTGRES") or "").lower() in ("1", "true", "yes")


def postgres_bin() -> Path | None:
    """Debian's server binaries (/usr/lib/postgresql/<major>/bin), the newest installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def postgres_dir(layout: Layout, cfg: dict[str, str]) -> Path:
    return Path(cfg.get("MGX_POSTGRES_DIR") or layout.var_dir / "postgres")


def postgres_port(cfg: dict[str, str]) -> int:
    return int(cfg.get("MGX_POSTGRES_PORT") or POSTGRES_PORT)


def postgres_password(layout: Layout) -> str:
    """The cluster superuser's password, made once into the var dir (mode 0600)."""
    path = layout.var_dir / "postgres.password"
    if not path.exists():
        import secrets

        layout.ensure()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def postgres_url(layout: Layout, cfg: dict[str, str]) -> str:
    return (f"postgres://{POSTGRES_USER}:{postgres_password(layout)}@127.0.0.1:{postgres_port(cfg)}/"
            f"{cfg.get('MGX_POSTGRES_DB') or POSTGRES_DB}")


def _as_postgres_user() -> list[str]:
    """The argv prefix that drops root to the postgres system user (exec, no process between,
    so the pid file names postgres itself); nothing when not root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={POSTGRES_SYSTEM_USER}", f"--regid={POSTGRES_SYSTEM_USER}", "--init-groups", "--"]


def postgres_prepare(layout: Layout, cfg: dict[str, str]) -> str | None:
    """Make the cluster once (initdb into `postgres_dir`/data, owned by the user it runs as,
    password authentication on TCP only). Returns what was done, or None when it existed."""
    pg_bin = postgres_bin()
    if pg_bin is None:
        raise ServiceError("PostgreSQL", "the server is not installed (Debian: apt-get install postgresql)")
    home = postgres_dir(layout, cfg)
    data = home / "data"
    if (data / "PG_VERSION").exists():
        return None
    home.mkdir(parents=True, exist_ok=True)
    pwfile = home / "initdb.pw"
    pwfile.write_text(postgres_password(layout) + "\n")
    if os.geteuid() == 0:
        import pwd

        try:
            ids = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            raise ServiceError("PostgreSQL", f"no '{POSTGRES_SYSTEM_USER}' system user to run it as (Debian's postgresql package makes it)") from None
        os.chown(home, ids.pw_uid, ids.pw_gid)
        os.chown(pwfile, ids.pw_uid, ids.pw_gid)
        probe = subprocess.run([*_as_postgres_user(), "test", "-w", str(home)], capture_output=True)
        if probe.returncode != 0:
            pwfile.unlink(missing_ok=True)
            raise ServiceError("PostgreSQL", f"the {POSTGRES_SYSTEM_USER} user cannot reach {home} (a parent directory is "
                               "closed to it); set MGX_POSTGRES_DIR to a directory it can reach")
    os.chmod(pwfile, 0o600)
    try:
        done = subprocess.run(
            [*_as_postgres_user(), str(pg_bin / "initdb"), "-D", str(data), "-U", POSTGRES_USER, f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise ServiceError("PostgreSQL", "initdb failed:\n" + (done.stderr or done.stdout)[-2000:])
    return f"made a cluster in {data}"


def postgres_proc(layout: Layout, cfg: dict[str, str]) -> Proc:
    pg_bin = postgres_bin() or Path("/usr/lib/postgresql/15/bin")
    port = postgres_port(cfg)
    data = postgres_dir(layout, cfg) / "data"
    return Proc(
        name="postgres", label="PostgreSQL", address=f"postgres://127.0.0.1:{port}/",
        # Loopback TCP only, no Unix socket (its default directory is the system cluster's).
        argv=[*_as_postgres_user(), str(pg_bin / "postgres"), "-D", str(data), "-p", str(port),
              "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
        marker="postgres", answers=lambda: _pg_ready(pg_bin, port),
        host="127.0.0.1", port=port, port_setting="MGX_POSTGRES_PORT", stop_signal=signal.SIGINT,
        missing_hint="install it (Debian: apt-get install postgresql)",
    )


def _pg_ready(pg_bin: Path, port: int) -> bool:
    done = subprocess.run([str(pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
    return done.returncode == 0


def postgres_db_ensure(layout: Layout, cfg: dict[str, str]) -> bool:
    """Create MGX's database on the running cluster unless it exists; True when it was made."""
    pg_bin = postgres_bin()
    name = cfg.get("MGX_POSTGRES_DB") or POSTGRES_DB
    env = dict(os.environ, PGPASSWORD=postgres_password(layout))
    base = ["-h", "127.0.0.1", "-p", str(postgres_port(cfg)), "-U", POSTGRES_USER]
    exists = subprocess.run([str(pg_bin / "psql"), *base, "-d", "postgres", "-tAc",
                             f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], capture_output=True, text=True, env=env)
    if exists.returncode != 0:
        raise ServiceError("PostgreSQL", "cannot connect: " + exists.stderr.strip()[-500:])
    if exists.stdout.strip() == "1":
        return False
    made = subprocess.run([str(pg_bin / "createdb"), *base, name], capture_output=True, text=True, env=env)
    if made.returncode != 0:
        raise ServiceError("PostgreSQL", f"createdb {name} failed: " + made.stderr.strip()[-500:])
    return True


def _stores(layout: Layout, cfg: dict[str, str], *, redis_url: str, mongo_url: str, i_host: str) -> list[Proc]:
    r_host, r_port = _host_port(redis_url, 6379)
    m_host, m_port = _host_port(mongo_url, 27017)
    redis_dir = layout.var_dir / "redis"
    mongo_dir = layout.var_dir / "mongo"
    for d in (redis_dir, mongo_dir):
        d.mkdir(parents=True, exist_ok=True)
    apps = [p for p in (apps_store(layout, cfg), apps_guard(layout, cfg, i_host=i_host)) if p is not None]
    pg = postgres_proc(layout, cfg) if postgres_wanted(cfg) else None
    return [
        *([pg] if pg else []),
        Proc(
            name="redis", label="Redis", address=redis_url,
            argv=["redis-server", "--bind", r_host, "--port", str(r_port), "--dir", str(redis_dir),
                  "--daemonize", "no", "--save", "60 1", "--appendonly", "no"],
            marker="redis-server", answers=lambda: redis_answers(redis_url),
            host=r_host, port=r_port, port_setting="MGX_REDIS_URL", reuse_foreign=True,
            missing_hint="install it (Debian: apt-get install redis-server)",
        ),
        Proc(
            name="mongo", label="MongoDB store (nx-27017)", address=mongo_url,
            argv=[str(BIN_DIR / "nx-27017"), "--data-dir", str(mongo_dir), "--host", m_host, "-p", str(m_port),
                  "--log-file", str(layout.logfile("mongo-server")), "--pid-file", str(layout.run_dir / "nx-27017.own.pid")],
            marker="nx-27017", answers=lambda: mongo_answers(mongo_url),
            host=m_host, port=m_port, port_setting="MGX_MONGO_URL", reuse_foreign=True,
            missing_hint="reinstall MGX's Python environment (rm -rf .venv; ./mgx up)",
        ),
        *apps,
    ]


def unix_answers(path: Path, timeout: float = 0.5) -> bool:
    """The gateway's access check (deployments/gateway/authd.py) answers PING on its socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"PING\n")
            return sock.recv(16) == b"PONG\n"
    except OSError:
        return False


def gateway_dir(layout: Layout, cfg: dict[str, str]) -> Path:
    """Where each apps gateway keeps its nginx configuration (rewritten at every start)."""
    return Path(cfg.get("MGX_GATEWAY_DIR") or layout.var_dir / "gateway")


def gateway_socket(prefix: Path) -> Path:
    """The access check's Unix socket for the gateway whose nginx lives in `prefix`. Not under
    the var dir: nginx's workers run as MGX_GATEWAY_USER when MGX runs as root and may not pass
    through it (a home directory is 0700), and a socket's path has at most 107 bytes. So: one
    short name per gateway under /run (root) or the temporary directory (anyone else)."""
    import hashlib
    import tempfile

    name = hashlib.sha256(str(prefix.resolve()).encode()).hexdigest()[:20] + ".sock"
    if os.geteuid() == 0:
        return Path("/run/mgx-gateway") / name
    return Path(tempfile.gettempdir()) / f"mgx-gateway-{os.geteuid()}" / name


def worker_node(port: int) -> str:
    """The Celery node name of the web instance whose Daphne is on `port` (its `-n mgx-<port>@%h`,
    with Celery's %h, the host name, filled in): what runs and heartbeats record as their owner."""
    return f"mgx-{port}@{socket.gethostname()}"


def web_instance(layout: Layout, cfg: dict[str, str], *, index: int, port: int, apps_port: int,
                 internal_port: int) -> list[Proc]:
    """One more MGX web instance beside the first (`stack`): Daphne, the apps gateway (and its
    access check) and a Celery worker on their own ports and names (`daphne-<index>`,
    `gateway-<index>`, `gateway-auth-<index>`, worker `mgx-<port>@host`),
    on the same SQL database, Redis and MongoDB, hence the same users, events and routes. Its
    environment is the first instance's, so both name the same public URLs, as two instances
    behind one load balancer do. Only the first worker runs the periodic tasks (beat)."""
    redis_url = cfg.get("MGX_REDIS_URL") or defaults.MGX_REDIS_URL
    d_host = cfg.get("MGX_HOST") or defaults.MGX_HOST
    g_host = cfg.get("MGX_APPS_HOST", d_host)
    proxied = cfg.get("MGX_PROXY_HEADERS", "").lower() in ("1", "true", "yes")
    i_host, _ = internal_listener(cfg)
    return _web(layout, cfg, redis_url=redis_url, d_host=d_host, d_port=port, g_host=g_host, g_port=apps_port,
                proxied=proxied, i_host=i_host, i_port=internal_port, suffix=f"-{index}", beat=False)


def _web(layout: Layout, cfg: dict[str, str], *, redis_url: str, d_host: str, d_port: int, g_host: str,
         g_port: int, proxied: bool, i_host: str, i_port: int, suffix: str = "", beat: bool = True) -> list[Proc]:
    i_host = i_host.strip("[]")
    twisted_host = i_host.replace(":", r"\:")  # Twisted endpoint strings escape ':'
    nginx_conf = gateway_dir(layout, cfg) / f"gateway{suffix}" / "nginx.conf"
    socket_path = gateway_socket(nginx_conf.parent)
    return [
        Proc(
            name=f"daphne{suffix}", label="Daphne (web)", address=f"http://{d_host}:{d_port}/",
            # X-Forwarded-For is trusted only behind a proxy that sets it (MGX_PROXY_HEADERS);
            # otherwise any client could pick the address the login lockout counts against.
            # A second endpoint for agent containers on the Docker bridge; mgx_site.asgi answers
            # only the internal agent API there. Daphne runs through mgx_site.daphne_server (its
            # own command line), which refuses bodies over the limits before they are read.
            argv=[sys.executable, "-m", "mgx_site.daphne_server", "-b", d_host, "-p", str(d_port),
                  "-e", f"tcp:port={i_port}:interface={twisted_host}",
                  *(["--proxy-headers"] if proxied else []),
                  "mgx_site.asgi:application"],
            marker="daphne", answers=lambda: tcp_open(d_host, d_port) and tcp_open(i_host, i_port),
            host=d_host, port=d_port, port_setting="MGX_PORT", start_timeout=45.0,
            also_listens=((i_host, i_port, "MGX_INTERNAL_PORT"),),
        ),
        Proc(
            name=f"gateway-auth{suffix}", label="Apps gateway access check", address=f"unix:{socket_path}",
            # Who may open a dev preview: MGX decides (sessions and tokens in SQL) for nginx,
            # which caches the answer. Its socket is for nginx's workers only.
            argv=[sys.executable, "-m", "deployments.gateway.authd", "--socket", str(socket_path)],
            marker=str(socket_path), answers=lambda: unix_answers(socket_path), start_timeout=45.0,
        ),
        Proc(
            name=f"gateway{suffix}", label="Apps gateway", address=f"http://{g_host}:{g_port}/",
            # The apps' own origin (MGX_APPS_URL), apart from Daphne: nothing an app serves
            # shares MGX's origin. nginx with MGX's Lua module forwards; the launcher writes its
            # configuration, then becomes nginx (same pid, in the foreground).
            argv=[sys.executable, "-m", "deployments.gateway.nginx", "--conf", str(nginx_conf),
                  "--listen", f"{g_host}:{g_port}", "--auth-socket", str(socket_path),
                  *(["--proxy-headers"] if proxied else [])],
            marker=str(nginx_conf), answers=lambda: tcp_open(g_host, g_port),
            host=g_host, port=g_port, port_setting="MGX_APPS_PORT", start_timeout=30.0,
            missing_hint="install nginx and its Lua module (Debian: apt-get install nginx libnginx-mod-http-lua lua-cjson)",
        ),
        Proc(
            name=f"celery{suffix}", label="Celery worker", address=redis_url,
            # The node name (mgx-<port>@host) is the worker's identity: the runs it owns and its
            # heartbeat (core.workers) go by it, so a restarted worker knows its own runs.
            # No gossip, mingle or event heartbeats: MGX uses none of them (its own heartbeat is
            # core.workers'), mingle costs every start a second, and gossip's restart after a lost
            # broker connection raised inside the consumer (in the suite's log after a Redis restart).
            argv=[str(BIN_DIR / "celery"), "-A", "mgx_site", "worker", "-l", "INFO", "-n", f"mgx-{d_port}@%h",
                  "--without-gossip", "--without-mingle", "--without-heartbeat",
                  *(["-B", "-s", str(layout.run_dir / "celerybeat-schedule")] if beat else [])],
            # A worker has no port to probe: its pid (checked by running_pid) is the signal,
            # and a fresh start waits for celery's own "ready." line.
            marker="celery", answers=lambda: True, ready_log_line=" ready.", start_timeout=60.0,
        ),
    ]


def ensure_docker(layout: Layout, url: str) -> StartResult | None:
    """Make sure a Docker engine answers at `url`. Starts `dockerd` only in the one case where
    that is clearly what the user wants: the default local socket, running as root, and
    Debian's dockerd installed. Returns None when an engine already answered."""
    if docker_answers(url):
        return None
    default_socket = url in (defaults.DOCKER_HOST, "unix://var/run/docker.sock")
    dockerd = shutil.which("dockerd")
    if not default_socket:
        raise ServiceError("Docker engine", f"no engine answers at DOCKER_HOST={url}; start it or unset DOCKER_HOST")
    if dockerd is None:
        raise ServiceError("Docker engine", "no engine answers at /var/run/docker.sock and dockerd is not installed (Debian: apt-get install docker.io)")
    if os.geteuid() != 0:
        raise ServiceError("Docker engine", "no engine answers at /var/run/docker.sock; start it (sudo systemctl start docker, or sudo dockerd)")
    return start(layout, dockerd_proc(url))


def dockerd_proc(url: str) -> Proc:
    return Proc(name="dockerd", label="Docker engine", address=url, argv=["dockerd"], marker="dockerd",
                answers=lambda: docker_answers(url), start_timeout=60.0)


def start_all(layout: Layout, procs: list[Proc], *, env: dict[str, str] | None = None,
              on_result: Callable[[StartResult], None] | None = None,
              between: dict[str, Callable[[], None]] | None = None) -> list[StartResult]:
    """Start `procs` in order. `between[name]` runs right before that process starts (migrations
    before Daphne). On any failure, everything this call started is stopped again, newest
    first, so a failed start leaves nothing half-running; then the error is raised."""
    results: list[StartResult] = []
    try:
        for proc in procs:
            if between and proc.name in between:
                between[proc.name]()
            result = start(layout, proc, env=env)
            results.append(result)
            if on_result:
                on_result(result)
    except BaseException:
        stop_started(layout, results)
        raise
    return results


def stop_started(layout: Layout, results: list[StartResult]) -> None:
    """Undo a start: stop, newest first, only what was started (not what was already running)."""
    for result in reversed(results):
        if result.started:
            stop(layout, result.proc)
