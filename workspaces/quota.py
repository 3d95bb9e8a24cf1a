"""Each workspace's disk quota: a file system of its own, so no app fills the host's disk.

A workspace is written by the app's dev container, its agent and its builds' sources come from
it: nothing of MGX's can count what a container writes, so the limit is the file system's.
Each workspace is an ext4 file system in a sparse file of MGX_WORKSPACE_QUOTA bytes
(`<MGX_WORKSPACE_DISKS>/<slug>.img`, beside `var/`, never inside a workspace), mounted with
`-o loop,nodev,nosuid,discard` at `MGX_WORKSPACE_ROOT/<slug>`. A container that fills it gets
"No space left on device" on its own writes and nobody else's; MGX's file API says the
workspace is full. The file only takes the room its files take (discard gives freed blocks
back to the host).

Mounting needs root (MGX runs as root on a single machine: it starts dockerd). Without root, or
with MGX_WORKSPACE_QUOTA=0, workspaces are plain folders and have no quota (`./mgx up` says so).
Mounts do not survive a reboot: `./mgx up` mounts every disk again before Daphne and the worker
start (`manage.py workspaces_mount`), so nothing writes into the bare folder underneath.
Workspaces made before quotas existed stay plain folders.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class QuotaError(Exception):
    """The workspace's file system could not be made or mounted; the message says why."""


def quota_bytes() -> int:
    """MGX_WORKSPACE_QUOTA in bytes ("4g", "512m", a number of bytes); 0 means no quota."""
    text = str(settings.MGX_WORKSPACE_QUOTA).strip().lower().removesuffix("b").removesuffix("i")
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS and text[-1].isalpha() else (text, "")
    try:
        return int(float(number or 0) * _UNITS[unit])
    except ValueError:
        raise QuotaError(f"MGX_WORKSPACE_QUOTA={settings.MGX_WORKSPACE_QUOTA!r} is not a size like 4g or 512m") from None


def enforced() -> bool:
    """Quotas are on: a size is set and MGX may mount file systems (root, the tools there)."""
    return quota_bytes() > 0 and os.geteuid() == 0 and bool(shutil.which("mkfs.ext4")) and bool(shutil.which("mount"))


def disk_path(*, slug: str) -> Path:
    return Path(settings.MGX_WORKSPACE_DISKS) / f"{slug}.img"


def is_mounted(path: Path | str) -> bool:
    target = str(Path(path).resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[4].replace("\\040", " ") == target for line in lines)


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise QuotaError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-400:]}")


def disk_make(*, root: Path, slug: str) -> bool:
    """Make the workspace's file system and mount it at `root` (which must not exist yet). False
    (and nothing made) when quotas are off: `root` is then left for the caller to make."""
    if not enforced():
        return False
    image = disk_path(slug=slug)
    image.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(image.parent, 0o700)
    try:
        with open(image, "xb") as fh:
            fh.truncate(quota_bytes())
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
             "-L", f"mgx-{slug}"[:16], str(image))
        root.mkdir(parents=True)
        _mount(image, root)
        (root / "lost+found").rmdir()  # not the app's: it would show in the file tree
    except (OSError, QuotaError) as exc:
        disk_remove(root=root, slug=slug)
        raise QuotaError(f"the workspace's disk could not be made: {exc}") from exc
    return True


def _mount(image: Path, root: Path) -> None:
    _run("mount", "-t", "ext4", "-o", "loop,nodev,nosuid,discard", str(image), str(root))


def disk_mount(*, root: Path, slug: str) -> bool:
    """Mount the workspace's disk at `root` unless it is mounted; True when it was mounted now."""
    image = disk_path(slug=slug)
    if not image.exists() or is_mounted(root):
        return False
    root.mkdir(parents=True, exist_ok=True)
    _mount(image, root)
    return True


def disk_remove(*, root: Path, slug: str) -> None:
    """Unmount the workspace's disk (lazily, if something still holds it) and delete it."""
    if is_mounted(root):
        done = subprocess.run(["umount", str(root)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(root)], capture_output=True)
    disk_path(slug=slug).unlink(missing_ok=True)


def disks_mount_all(*, workspace_root: Path) -> list[str]:
    """Every workspace disk mounted at its folder (after a reboot); the slugs mounted now."""
    folder = Path(settings.MGX_WORKSPACE_DISKS)
    mounted = []
    for image in sorted(folder.glob("*.img")) if folder.is_dir() else []:
        slug = image.name.removesuffix(".img")
        if disk_mount(root=workspace_root / slug, slug=slug):
            mounted.append(slug)
    return mounted


def disks_unmount_all(*, workspace_root: Path) -> None:
    """Unmount and delete every workspace disk (the test suite, between tests)."""
    folder = Path(settings.MGX_WORKSPACE_DISKS)
    for image in list(folder.glob("*.img")) if folder.is_dir() else []:
        slug = image.name.removesuffix(".img")
        disk_remove(root=workspace_root / slug, slug=slug)


@dataclass(frozen=True)
class Usage:
    used: int
    size: int  # 0: no quota (a plain folder on the host's disk)

    @property
    def full(self) -> bool:
        return self.size > 0 and self.size - self.used < 1024 * 1024

    def as_dict(self) -> dict:
        return {"used_bytes": self.used, "quota_bytes": self.size}


def usage(*, root: Path) -> Usage:
    """How much of the workspace's quota is used (statvfs of its own file system)."""
    if not is_mounted(root):
        return Usage(used=0, size=0)
    stat = os.statvfs(root)
    size = stat.f_blocks * stat.f_frsize
    return Usage(used=size - stat.f_bavail * stat.f_frsize, size=size)


def human(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"
