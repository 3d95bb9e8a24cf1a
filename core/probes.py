"""Is a service there? One copy of each probe, used by /healthz (core.health, with detail) and by
`./mgx` (mgx_site.cli, which only needs yes or no). Django-free: the CLI runs before Django can.

Each probe is bounded by `timeout` seconds so a dead service answers quickly."""
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    up: bool
    detail: str

    def __bool__(self) -> bool:
        return self.up


def redact(url: str) -> str:
    """Addresses are shown on pages; passwords inside them never are."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_taken(host: str, port: int) -> bool:
    """Whether binding (host, port) would fail as a server's bind does (SO_REUSEADDR, as
    Twisted and uvicorn set it): someone listens there, or holds it bound, or an outgoing
    connection uses it as its local port. None of the last two answers a connect probe. An
    address this machine does not have (yet) counts as free: there is nothing to clash with."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def redis_probe(url: str, *, timeout: float = 1.0) -> Probe:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return Probe(True, redact(url))
    except Exception as exc:
        return Probe(False, f"no answer at {redact(url)}: {type(exc).__name__}")


def mongo_probe(url: str, *, timeout: float = 1.0, client=None, command: str = "ping") -> Probe:
    """`client`: a long-lived pymongo client to reuse (the web process keeps one). `command`:
    "hello" where only the handshake answers before authentication (the apps' guard)."""
    import pymongo

    ms = int(timeout * 1000)
    own = client is None
    if own:
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)
    try:
        client.admin.command(command)
        return Probe(True, redact(url))
    except Exception as exc:
        return Probe(False, f"no answer at {redact(url)}: {type(exc).__name__}")
    finally:
        if own:
            client.close()


def docker_probe(url: str, *, timeout: float = 2.0) -> Probe:
    import docker

    try:
        client = docker.DockerClient(base_url=url, timeout=timeout)
        try:
            version = client.version().get("Version", "?")
        finally:
            client.close()
        return Probe(True, f"engine {version} at {url}")
    except Exception as exc:
        return Probe(False, f"no engine at {url}: {type(exc).__name__}")
