"""The one sandbox recipe every container of an app runs under, and each app's own network.

An app's code is hostile, and so is its build: dev servers, production releases, the image
build's steps and the agent team's container all run app-controlled code. `sandbox()` is the
only place that says how such a container is confined, so the four kinds cannot drift apart:

- never root (uid 1000, or MGX's own uid when MGX is not root), no capabilities at all (no
  `NET_RAW`: no raw sockets, no ARP spoofing), `no-new-privileges`;
- a read-only root filesystem with a small tmpfs /tmp (a build stage's root is its scratch
  space, so it alone is writable there);
- memory (no swap on top), CPU and pids limits per kind (settings MGX_DEV_*, MGX_PROD_*,
  MGX_BUILD_*, MGX_AGENT_*), and a container log that rotates (MGX_CONTAINER_LOG_MAX_SIZE,
  MGX_CONTAINER_LOG_MAX_FILES);
- on a network of the app's own (`app_network_ensure`), never Docker's default bridge: no
  other app's container is addressable from it, and its layer 2 segment holds only this app's
  containers. The host stays reachable as `host.docker.internal` (MGX's internal listener, the
  apps' store, the OTLP receiver listen there); MGX's loopback-only services do not.

Networks get their subnet from MGX_APP_SUBNETS (a /16 cut into /28s by default) instead of the
engine's default pools, which hold about thirty networks in all.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
from dataclasses import dataclass

import docker
from django.conf import settings

from containers.docker_client import client, instance_id, labels
from core.owner import container_user

log = logging.getLogger(__name__)

KINDS = ("dev", "prod", "build", "agent")
# How every app container calls the host (`extra_hosts: host-gateway`, the Docker bridge address
# of the host): MGX's internal listener, the apps' MongoDB guard and the OTLP receiver.
CONTAINER_HOST = "host.docker.internal"


@dataclass(frozen=True)
class Limits:
    memory: str
    cpus: float
    pids: int
    tmp_size: str


def limits(kind: str) -> Limits:
    prefix = {"dev": "MGX_DEV", "prod": "MGX_PROD", "build": "MGX_BUILD", "agent": "MGX_AGENT"}[kind]
    # A CPU limit above the machine's cores is refused by the engine: at most all of them.
    return Limits(memory=getattr(settings, f"{prefix}_MEMORY"),
                  cpus=min(getattr(settings, f"{prefix}_CPUS"), float(os.cpu_count() or 1)),
                  pids=getattr(settings, f"{prefix}_PIDS"), tmp_size=getattr(settings, f"{prefix}_TMP_SIZE", ""))


def sandbox(*, kind: str, network: str, user: str | None = None, writable_root: bool = False,
            tmp_exec: bool = False) -> dict:
    """The confinement part of `containers.run`/`create` keyword arguments for a container of
    `kind` (dev, prod, build or agent) on `network` (the app's or its release's own). Callers
    add what the container is (image, name, command, environment, mounts, ports, labels).
    `writable_root`: a build stage, whose steps write where the Dockerfile says; `tmp_exec`:
    programs may run from /tmp (npm and pip unpack and run build tools there)."""
    if kind not in KINDS:
        raise ValueError(f"unknown container kind {kind!r}")
    if not network:
        raise ValueError("an app container needs its app's own network")
    bounds = limits(kind)
    config = dict(
        user=user or container_user(),
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=not writable_root,
        mem_limit=bounds.memory,
        memswap_limit=bounds.memory,
        nano_cpus=int(bounds.cpus * 1e9),
        pids_limit=bounds.pids,
        network=network,
        extra_hosts={CONTAINER_HOST: "host-gateway"},
        log_config={"type": "json-file", "config": {"max-size": settings.MGX_CONTAINER_LOG_MAX_SIZE,
                                                    "max-file": str(settings.MGX_CONTAINER_LOG_MAX_FILES)}},
    )
    if not writable_root:
        config["tmpfs"] = {"/tmp": f"rw,{'exec' if tmp_exec else 'noexec'},nosuid,nodev,size={bounds.tmp_size},mode=1777"}
    return config


# ---------------------------------------------------------------- networks

def app_network_name(*, slug: str) -> str:
    return f"mgx-{instance_id()}-app-{slug}"


def app_network_ensure(*, slug: str) -> str:
    """The app's own bridge network, made on first use; its name."""
    return network_ensure(name=app_network_name(slug=slug), labels=labels(slug=slug, role="network"))


def network_ensure(*, name: str, labels: dict) -> str:
    """A bridge network `name` with a subnet of its own from MGX_APP_SUBNETS (made unless it
    exists). Another MGX instance on the same engine may take a subnet at the same moment: the
    engine refuses the overlap and the next free one is tried."""
    engine = client()
    try:
        engine.networks.get(name)
        return name
    except docker.errors.NotFound:
        pass
    for subnet in _free_subnets(engine, name):
        try:
            gateway = str(next(subnet.hosts()))
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=gateway)])
            engine.networks.create(name, driver="bridge", ipam=ipam, labels=labels, check_duplicate=True)
            return name
        except docker.errors.APIError as exc:
            text = str(exc).lower()
            if "already exists" in text:
                return name  # another worker made it meanwhile
            if "overlap" not in text:
                raise
    raise docker.errors.APIError(f"no free subnet left in MGX_APP_SUBNETS={settings.MGX_APP_SUBNETS} for {name}")


def _free_subnets(engine, name: str):
    """Subnets of MGX_APP_SUBNETS no network of the engine uses, starting at one picked by the
    name (so two instances creating networks at once rarely try the same one first)."""
    pool = ipaddress.ip_network(settings.MGX_APP_SUBNETS)
    size = settings.MGX_APP_SUBNET_PREFIX
    count = 2 ** (size - pool.prefixlen)
    used = []
    for network in engine.networks.list():
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                used.append(ipaddress.ip_network(config.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    start = int(hashlib.sha256(name.encode()).hexdigest(), 16) % count
    for step in range(count):
        index = (start + step) % count
        subnet = ipaddress.ip_network((int(pool.network_address) + index * 2 ** (32 - size), size))
        if not any(subnet.overlaps(other) for other in used):
            yield subnet


def network_remove(*, name: str) -> None:
    """Remove the network; already gone is fine. Containers still on it are disconnected first
    (they are being removed by the caller anyway)."""
    try:
        network = client().networks.get(name)
    except docker.errors.NotFound:
        return
    try:
        network.remove()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError:
        network.reload()
        for container_id in (network.attrs.get("Containers") or {}):
            try:
                network.disconnect(container_id, force=True)
            except docker.errors.APIError:
                pass
        try:
            network.remove()
        except docker.errors.NotFound:
            pass


def app_network_remove(*, slug: str) -> None:
    network_remove(name=app_network_name(slug=slug))


def networks_of_deleted_apps(*, app_exists) -> list[str]:
    """Remove this instance's app networks whose app is gone (`app_exists(slug)` is False);
    their names. The networks are listed before any app is looked up, so an app made meanwhile
    (and its network) is never taken for a deleted one."""
    removed = []
    for network in client().networks.list(filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=network"]}):
        slug = (network.attrs.get("Labels") or {}).get("mgx.app", "")
        if not app_exists(slug):
            network_remove(name=network.name)
            removed.append(network.name)
    return removed
