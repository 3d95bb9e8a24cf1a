"""The images app containers run on: a Debian bookworm base and the MGX runtime on top of it.

`images_ensure()` makes sure both exist and are current, building only what is missing:

- base (`MGX_BASE_IMAGE`): pulled from `MGX_BASE_PULL` and tagged when a registry answers
  (the pull is given `PULL_TIMEOUT` seconds without progress); otherwise built here with
  `debootstrap --variant=minbase bookworm` from `MGX_DEBIAN_MIRROR` and `docker import`ed.
  `MGX_BASE_PULL=""` skips the pull.
- runtime (`MGX_RUNTIME_IMAGE`): `infra/images/runtime/Dockerfile` on top of the base, with
  `MGX_EXTRA_CA_BUNDLE` copied in. It carries a label (`RECIPE_LABEL`) hashing that directory,
  the bundle and the base image id; a runtime whose label differs is rebuilt, so editing the
  Dockerfile or changing the bundle is picked up by the next run.

- agent (`MGX_AGENT_IMAGE`) and dev (`MGX_DEV_IMAGE`): on top of the runtime, MGX's own Python
  dependencies for the agent team's containers, and the templates' locked dependencies that a
  new app's dev server copies instead of downloading them (infra/images/dev). Each is rebuilt
  when its recipe (its folder, its inputs, the runtime image id) changes.

Images that exist and are current are left alone unless `force`. A failed step raises
`ImageError` naming the cause, and tags nothing: `docker build` and `docker import` only tag
on success, and temp dirs are removed. One lock file serialises concurrent runs (the test
suite and `./mgx up` on one machine), which then find the images already made.

`images_status()` is the cheap check `./mgx up` runs before Django starts; it needs no settings.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils import parse_repository_tag

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "infra" / "images" / "runtime"
AGENT_DIR = RUNTIME_DIR.parent / "agent"
DEV_DIR = RUNTIME_DIR.parent / "dev"
TEMPLATES_DIR = RUNTIME_DIR.parents[2] / "app_templates"
# The templates' dependency manifests the dev image installs ahead (containers.frameworks names
# them by these keys): npm folders (package.json, package-lock.json) and pip folders (requirements*.txt).
WARM_NPM = {"nextjs": "nextjs", "fastapi_vite-frontend": "fastapi_vite/frontend"}
WARM_PIP = {"fastapi_vite-backend": "fastapi_vite/backend"}
PYPROJECT = RUNTIME_DIR.parents[2] / "pyproject.toml"
RECIPE_LABEL = "org.mgx.recipe"
KIND_LABEL = "org.mgx.image"  # "base" or "runtime"
# Where the runtime image keeps its CA bundle (PIP_CERT, NODE_EXTRA_CA_CERTS, … point here);
# containers may mount a newer bundle over it.
RUNTIME_CA_PATH = "/usr/local/share/mgx/ca.crt"

PULL_TIMEOUT = 20  # seconds without an answer from the registry before we debootstrap instead
DEBOOTSTRAP_TIMEOUT = 1200
BUILD_TIMEOUT = 900  # seconds a build step may stay silent
SUITE = "bookworm"

Progress = Callable[[str], None]


class ImageError(Exception):
    """An image could not be made; the message says which, why, and what to do."""


# ---------------------------------------------------------------- public

def images_ensure(*, progress: Progress = print, force: bool = False, agent: bool = True,
                  dev: bool | None = None) -> dict:
    """Make sure the base and runtime images exist and are current; build what is not.

    Returns {"base": info, "runtime": info}, each info a dict with `name`, `id`, `size`
    (bytes), `action` ("exists", "pulled", "built" for the base; "up to date", "built" for the
    runtime) and `seconds` spent on it. `agent` and `dev` (which follows `agent` unless given):
    also the images made on top of the runtime."""
    url = settings.MGX_DOCKER_HOST
    client = _client(url)
    try:
        with _lock(progress):
            base = _base_ensure(
                client, url, name=settings.MGX_BASE_IMAGE, pull=settings.MGX_BASE_PULL,
                mirror=settings.MGX_DEBIAN_MIRROR, progress=progress, force=force,
            )
            runtime = _runtime_ensure(
                client, url, name=settings.MGX_RUNTIME_IMAGE, base=base, mirror=settings.MGX_DEBIAN_MIRROR,
                ca_bundle=settings.MGX_EXTRA_CA_BUNDLE, progress=progress, force=force,
            )
            made = {"base": base, "runtime": runtime}
            if agent:  # the agent image is MGX's dependencies on top of the runtime
                made["agent"] = _agent_ensure(client, url, name=settings.MGX_AGENT_IMAGE, runtime=runtime,
                                              mirror=settings.MGX_DEBIAN_MIRROR, progress=progress, force=force)
            if agent if dev is None else dev:  # the templates' dependencies on top of the runtime
                made["dev"] = _dev_ensure(client, url, name=settings.MGX_DEV_IMAGE, runtime=runtime,
                                          mirror=settings.MGX_DEBIAN_MIRROR, progress=progress, force=force)
        return made
    finally:
        client.close()


def images_status(*, docker_url: str, base: str, runtime: str, ca_bundle: str, agent: str = "") -> list[str]:
    """Why the images need work, one reason per image ([] when both are there and current).
    Cheap (two inspects and hashing a few files) and Django-free, for `./mgx up`."""
    client = _client(docker_url, timeout=10)
    try:
        base_attrs = _inspect(client, base)
        runtime_attrs = _inspect(client, runtime)
        reasons = []
        if base_attrs is None:
            reasons.append(f"{base} is missing")
        if runtime_attrs is None:
            reasons.append(f"{runtime} is missing")
        elif base_attrs is not None:
            try:
                want = runtime_recipe(ca_bundle=ca_bundle, base_id=base_attrs["Id"])
            except ImageError as exc:
                return reasons + [str(exc)]
            if _labels(runtime_attrs).get(RECIPE_LABEL) != want:
                reasons.append(f"{runtime} is out of date (its Dockerfile, the CA bundle or the base changed)")
        if agent:
            agent_attrs = _inspect(client, agent)
            if agent_attrs is None:
                reasons.append(f"{agent} is missing")
            elif runtime_attrs is not None and _labels(agent_attrs).get(RECIPE_LABEL) != agent_recipe(runtime_id=runtime_attrs["Id"]):
                reasons.append(f"{agent} is out of date (MGX's dependencies or the runtime changed)")
        return reasons
    finally:
        client.close()


def dev_image_status(*, docker_url: str, runtime: str, dev: str) -> str:
    """Why the dev image needs work ("" when it is current), Django-free for `./mgx up`."""
    client = _client(docker_url, timeout=10)
    try:
        return _dev_reason(client, runtime=runtime, dev=dev)
    finally:
        client.close()


def _dev_reason(client, *, runtime: str, dev: str) -> str:
    runtime_attrs, dev_attrs = _inspect(client, runtime), _inspect(client, dev)
    if dev_attrs is None:
        return f"{dev} is missing"
    if runtime_attrs is None or _labels(dev_attrs).get(RECIPE_LABEL) != dev_recipe(runtime_id=runtime_attrs["Id"]):
        return f"{dev} is out of date (a template's dependencies or the runtime changed)"
    return ""


def runtime_recipe(*, ca_bundle: str, base_id: str) -> str:
    """The content hash a current runtime image carries in its `RECIPE_LABEL`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in RUNTIME_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(RUNTIME_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"ca\0" + _bundle_bytes(ca_bundle) + b"\0")
    digest.update(b"base\0" + base_id.encode())
    return digest.hexdigest()


def agent_requirements() -> str:
    """MGX's runtime dependencies (not the dev extras), one per line, from pyproject.toml."""
    import tomllib

    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return "\n".join(deps) + "\n"


def agent_recipe(*, runtime_id: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in AGENT_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(AGENT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"requirements\0" + agent_requirements().encode() + b"\0runtime\0" + runtime_id.encode())
    return digest.hexdigest()


def warm_manifests() -> dict[str, bytes]:
    """The dev image's build context beside its Dockerfile: each template's manifests."""
    files = {}
    for kind, folders, patterns in (("npm", WARM_NPM, ("package.json", "package-lock.json")),
                                    ("pip", WARM_PIP, ("requirements*.txt",))):
        for key, folder in folders.items():
            for pattern in patterns:
                for path in sorted((TEMPLATES_DIR / folder).glob(pattern)):
                    files[f"{kind}/{key}/{path.name}"] = path.read_bytes()
    return files


def dev_recipe(*, runtime_id: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in DEV_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(DEV_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name, data in sorted(warm_manifests().items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    digest.update(b"runtime\0" + runtime_id.encode())
    return digest.hexdigest()


def dev_image_current(client) -> bool:
    """Whether the dev image exists and was made from today's runtime image and manifests
    (a dev server starts from it then; from the runtime image, installing everything, if not)."""
    return not _dev_reason(client, runtime=settings.MGX_RUNTIME_IMAGE, dev=settings.MGX_DEV_IMAGE)


def _dev_ensure(client, url: str, *, name: str, runtime: dict, mirror: str, progress: Progress, force: bool) -> dict:
    return _on_runtime_ensure(client, url, kind="dev", name=name, runtime=runtime, source=DEV_DIR,
                              extra=warm_manifests(), recipe=dev_recipe(runtime_id=runtime["id"]),
                              what="the templates' dependencies", mirror=mirror, progress=progress, force=force)


def _agent_ensure(client, url: str, *, name: str, runtime: dict, mirror: str, progress: Progress, force: bool) -> dict:
    return _on_runtime_ensure(client, url, kind="agent", name=name, runtime=runtime, source=AGENT_DIR,
                              extra={"requirements.txt": agent_requirements().encode()},
                              recipe=agent_recipe(runtime_id=runtime["id"]), what="MGX's dependencies",
                              mirror=mirror, progress=progress, force=force)


def _on_runtime_ensure(client, url: str, *, kind: str, name: str, runtime: dict, source: Path, extra: dict[str, bytes],
                       recipe: str, what: str, mirror: str, progress: Progress, force: bool) -> dict:
    """An image made FROM the runtime image (agent, dev): built unless it carries `recipe`."""
    started = time.monotonic()
    say = _sayer(kind, progress, started)
    old = _inspect(client, name)
    if old is not None and not force and _labels(old).get(RECIPE_LABEL) == recipe:
        say(f"{name} is up to date ({_mb(old['Size'])}), nothing to do")
        return _info(name, old, "up to date", started)
    return _build_dir(client, url, name=name, source=source, extra=extra, old=old, say=say,
                      announce=f"building {name} ({what} on {runtime['name']}; a minute or two)",
                      mirror=mirror, force=force, buildargs={"RUNTIME_IMAGE": runtime["name"]},
                      labels={RECIPE_LABEL: recipe, KIND_LABEL: kind}, started=started)


# ---------------------------------------------------------------- base

def _base_ensure(client, url: str, *, name: str, pull: str, mirror: str, progress: Progress, force: bool) -> dict:
    started = time.monotonic()
    say = _sayer("base", progress, started)
    old = _inspect(client, name)
    if old is not None and not force:
        say(f"{name} exists ({_mb(old['Size'])}), nothing to do")
        return _info(name, old, "exists", started)

    action = None
    if pull:
        say(f"pulling {pull} (giving up after {PULL_TIMEOUT} s without an answer)")
        reason = _pull(client, url, pull, name)
        if reason is None:
            action = "pulled"
            say(f"pulled {pull} and tagged it {name}")
        else:
            say(f"pull failed ({reason}); building {name} with debootstrap instead")
    if action is None:
        _debootstrap_import(client, name=name, mirror=mirror, pull=pull, say=say)
        action = "built"
    attrs = _inspect(client, name)
    if attrs is None:
        raise ImageError(f"{name} was {action} but the Docker engine does not list it")
    if old is not None and old["Id"] != attrs["Id"]:
        _remove_quietly(client, old["Id"])
    say(f"{name} {action} ({_mb(attrs['Size'])})")
    return _info(name, attrs, action, started)


def _pull(client, url: str, ref: str, name: str) -> str | None:
    """Pull `ref` and tag it `name`; None on success, else why not (short)."""
    repo, tag = parse_repository_tag(ref)
    puller = _client(url, timeout=PULL_TIMEOUT)
    try:
        for event in puller.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
            if "error" in event:
                return _short(event["error"])
        target_repo, target_tag = parse_repository_tag(name)
        client.api.tag(ref if tag else f"{repo}:latest", target_repo, tag=target_tag or "latest")
        return None
    except APIError as exc:
        return _short(str(exc.explanation or exc))
    except Exception as exc:  # timeouts, DNS, HTTP errors: all mean "build it here"
        return _short(str(exc) or type(exc).__name__)
    finally:
        puller.close()


# Milestones of debootstrap's output, instead of its ~300 per-package lines.
_DEBOOTSTRAP_SHOWN = re.compile(
    r"^(E:|W:|I: (Retrieving (InRelease|Release)|Valid Release|Resolving|Checking component|Installing|"
    r"Unpacking (required|the base)|Configuring (required|the base)|Base system))"
)


def _debootstrap_import(client, *, name: str, mirror: str, pull: str, say: Callable[[str], None]) -> None:
    exe = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None)
    if exe is None:
        raise ImageError(
            f"cannot make the base image {name}: no registry gave {pull or 'an image (MGX_BASE_PULL is empty)'} and "
            "debootstrap is not installed (Debian: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise ImageError(f"cannot make the base image {name}: debootstrap must run as root (run ./mgx images as root)")

    work = Path(tempfile.mkdtemp(prefix="mgx-base-"))
    rootfs, tarball = work / "rootfs", work / "rootfs.tar"
    try:
        say(f"debootstrap --variant=minbase {SUITE} from {mirror}")
        tail = collections.deque(maxlen=25)
        proc = subprocess.Popen(
            [exe, "--variant=minbase", SUITE, str(rootfs), mirror],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            start_new_session=True,
        )
        timer = threading.Timer(DEBOOTSTRAP_TIMEOUT, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                line = line.rstrip()
                tail.append(line)
                if _DEBOOTSTRAP_SHOWN.match(line):
                    say(line)
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            log = "\n".join(tail)
            hint = ""
            if re.search(r"Failed getting release file|Couldn't download|Failed to fetch|connection refused|"
                         r"unable to resolve|Name or service not known|Connection timed out", log, re.I):
                hint = f" — is MGX_DEBIAN_MIRROR={mirror} reachable and a Debian mirror with {SUITE}?"
            elif code < 0:
                hint = f" (stopped after {DEBOOTSTRAP_TIMEOUT} s)"
            raise ImageError(f"debootstrap of {SUITE} from {mirror} failed (exit {code}){hint}\n{log}")

        _unmount_under(rootfs)
        # Package lists and .debs are stale the moment the image exists; the runtime build
        # runs apt-get update anyway.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / sub).glob("*"):
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
        say("packing the root filesystem")
        done = subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageError(f"packing the debootstrapped root filesystem failed: {done.stderr.strip()[-1000:]}")
        say(f"docker import as {name}")
        repo, tag = parse_repository_tag(name)
        try:
            client.api.import_image_from_file(
                str(tarball), repository=repo, tag=tag or "latest",
                changes=["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]', "LABEL org.mgx.image=base",
                         f"LABEL org.mgx.source=debootstrap:{SUITE}"],
            )
        except DockerException as exc:
            raise ImageError(f"docker import of the debootstrapped base as {name} failed: {exc}") from exc
    finally:
        _remove_tree(work, say)


def _unmount_under(path: Path) -> bool:
    """Unmount whatever a killed debootstrap left mounted under `path` (/proc, /dev nodes bound
    from the host), deepest first; True when nothing is mounted there any more."""
    prefix = str(path.resolve())

    def mounted() -> list[str]:
        points = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    points.append(point)
        return points

    for point in sorted(mounted(), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    return not mounted()


def _remove_tree(path: Path, say: Callable[[str], None]) -> None:
    # Never rmtree through a mount point: a bind-mounted /dev/null would be the host's.
    if _unmount_under(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        say(f"left {path} in place: something is still mounted under it")


# ---------------------------------------------------------------- runtime

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def _runtime_ensure(client, url: str, *, name: str, base: dict, mirror: str, ca_bundle: str,
                    progress: Progress, force: bool) -> dict:
    started = time.monotonic()
    say = _sayer("runtime", progress, started)
    recipe = runtime_recipe(ca_bundle=ca_bundle, base_id=base["id"])
    old = _inspect(client, name)
    if old is not None and not force:
        if _labels(old).get(RECIPE_LABEL) == recipe:
            say(f"{name} is up to date ({_mb(old['Size'])}), nothing to do")
            return _info(name, old, "up to date", started)
        say(f"{name} is out of date (its Dockerfile, the CA bundle or the base changed); rebuilding")

    announce = (f"building {name} from {RUNTIME_DIR.relative_to(RUNTIME_DIR.parents[2])}/Dockerfile on {base['name']}"
                + (f", CA bundle {ca_bundle}" if ca_bundle else ", no extra CA bundle"))
    return _build_dir(client, url, name=name, source=RUNTIME_DIR, extra={"extra-ca.crt": _bundle_bytes(ca_bundle)},
                      old=old, say=say, announce=announce, mirror=mirror, force=force,
                      buildargs={"BASE_IMAGE": base["name"], "DEBIAN_MIRROR": mirror},
                      labels={RECIPE_LABEL: recipe}, started=started)


def _build_dir(client, url: str, *, name: str, source: Path, extra: dict[str, bytes], old: dict | None, say, announce: str,
               mirror: str, force: bool, buildargs: dict, labels: dict, started: float) -> dict:
    """Build `name` from `source` plus `extra` files, replace `old`, and report the result."""
    context = Path(tempfile.mkdtemp(prefix=f"mgx-{source.name}-ctx-"))
    try:
        shutil.copytree(source, context, dirs_exist_ok=True)
        for filename, data in extra.items():
            (context / filename).parent.mkdir(parents=True, exist_ok=True)
            (context / filename).write_bytes(data)
        say(announce)
        _build(url, context=context, name=name, say=say, mirror=mirror, nocache=force, buildargs=buildargs, labels=labels)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    attrs = _inspect(client, name)
    if attrs is None:
        raise ImageError(f"{name} was built but the Docker engine does not list it")
    if old is not None and old["Id"] != attrs["Id"]:
        _remove_quietly(client, old["Id"])
    say(f"{name} built ({_mb(attrs['Size'])})")
    return _info(name, attrs, "built", started)


def _build(url: str, *, context: Path, name: str, say, mirror: str, nocache: bool, buildargs: dict, labels: dict) -> None:
    builder = _client(url, timeout=BUILD_TIMEOUT)
    tail = collections.deque(maxlen=25)
    step = ""
    pending = ""  # the engine sends output in chunks that do not end at line breaks
    last_said = time.monotonic()
    try:
        stream = builder.api.build(
            path=str(context), tag=name, buildargs=buildargs, labels=labels, rm=True, forcerm=True,
            pull=False, nocache=nocache, decode=True,
        )
        for event in stream:
            if "error" in event:
                tail.append(pending)
                raise ImageError(_build_failure(name, step, event["error"], tail, mirror))
            *lines, pending = (pending + _ANSI.sub("", event.get("stream") or "")).split("\n")
            for line in lines:
                line = line.rstrip()
                if not line or line.startswith(" ---> ") or line.startswith("Removing intermediate container"):
                    continue
                tail.append(line)
                match = _STEP.match(line)
                if match:
                    step = f"step {match[1]}/{match[2]} ({_short(match[3], 80)})"
                    say(f"step {match[1]}/{match[2]}: {_short(match[3], 110)}")
                    last_said = time.monotonic()
                elif time.monotonic() - last_said > 30:
                    # A long apt step would otherwise look stuck.
                    say(f"  … {_short(line, 100)}")
                    last_said = time.monotonic()
    except ImageError:
        raise
    except DockerException as exc:
        raise ImageError(_build_failure(name, step, str(exc), tail, mirror)) from exc
    except Exception as exc:  # a read timeout on a silent step, a dropped connection
        raise ImageError(_build_failure(name, step, f"{type(exc).__name__}: {exc}", tail, mirror)) from exc
    finally:
        builder.close()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _build_failure(name: str, step: str, error: str, tail, mirror: str) -> str:
    log = "\n".join(line for line in tail if line.strip())
    code = re.search(r"returned a non-zero code: (\d+)", error)
    error = f"the command exited with code {code[1]}" if code else _short(error, 500)
    hint = ""
    if re.search(r"Failed to fetch|Could not connect|Temporary failure resolving|Unable to locate package|"
                 r"Some index files failed|Connection refused|connection timed out", log, re.I):
        hint = f"\napt could not use MGX_DEBIAN_MIRROR={mirror}: is it reachable and a Debian mirror with {SUITE}?"
    where = f" at {step}" if step else ""
    return f"building {name} failed{where}: {error}{hint}\nlast lines of the build:\n{log}"


# ---------------------------------------------------------------- helpers

def _client(url: str, *, timeout: int = 60):
    try:
        client = docker.DockerClient(base_url=url, timeout=timeout)
        client.ping()
        return client
    except Exception as exc:
        raise ImageError(f"the Docker engine does not answer at {url} ({_short(str(exc))}); "
                         "start it (`./mgx up` starts dockerd as root) or set DOCKER_HOST") from exc


def _inspect(client, name: str) -> dict | None:
    try:
        return client.api.inspect_image(name)
    except (ImageNotFound, NotFound):
        return None
    except APIError as exc:
        raise ImageError(f"the Docker engine could not look up {name}: {exc}") from exc


def _labels(attrs: dict) -> dict:
    return (attrs.get("Config") or {}).get("Labels") or {}


def _bundle_bytes(path: str) -> bytes:
    if not path:
        return b""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"MGX_EXTRA_CA_BUNDLE={path} cannot be read ({exc.strerror}); "
                         "point it at a PEM bundle or set it to an empty value") from exc


def _remove_quietly(client, image_id: str) -> None:
    """Drop the image a rebuild replaced; it stays when containers still use it."""
    with contextlib.suppress(DockerException):
        client.api.remove_image(image_id)


def _info(name: str, attrs: dict, action: str, started: float) -> dict:
    return {"name": name, "id": attrs["Id"], "size": attrs.get("Size", 0), "action": action,
            "seconds": round(time.monotonic() - started, 1)}


def _sayer(kind: str, progress: Progress, started: float) -> Callable[[str], None]:
    def say(text: str) -> None:
        progress(f"{kind:<8}{time.monotonic() - started:6.1f} s  {text}")
    return say


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _lock(progress: Progress):
    """One image build at a time per machine; a second run waits, then finds the images made."""
    path = Path(tempfile.gettempdir()) / "mgx-images.lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("images  waiting for another image build on this machine to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
