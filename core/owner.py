"""Who owns an app's files: the unprivileged user its containers run as.

MGX runs as root on a single machine (it starts dockerd), but nothing an app can run may act as
root: app containers run as `app_uid()` and every file MGX writes into a workspace is handed to
that user, so the dev server, SSH and the agent can edit what MGX wrote and vice versa. When MGX
itself is not root it cannot give files away; then containers run as MGX's own user instead.
"""
from __future__ import annotations

import os

from django.conf import settings


def app_uid() -> int:
    """The uid (and gid) app containers run as."""
    return settings.MGX_APP_UID if os.geteuid() == 0 else os.getuid()


def container_user() -> str:
    uid = app_uid()
    return f"{uid}:{uid}"


def own_fd(fd: int) -> None:
    """Give an open file or directory to the app user (no-op unless MGX is root)."""
    if os.geteuid() == 0:
        os.fchown(fd, app_uid(), app_uid())


def own_tree(path: str | os.PathLike) -> None:
    """Give a directory and everything under it to the app user, never following a symlink."""
    if os.geteuid() != 0:
        return
    uid = app_uid()
    os.chown(path, uid, uid, follow_symlinks=False)
    for _root, dirs, files, root_fd in os.fwalk(path, follow_symlinks=False):
        for name in dirs + files:
            os.chown(name, uid, uid, dir_fd=root_fd, follow_symlinks=False)
