"""MGX's own image builder: an app's Dockerfile, run step by step inside its sandbox.

A build is code execution: the Dockerfile and every script it runs are written by the agent or
the app's owner. The engine's builder would run those steps as root, with the engine's default
capabilities (NET_RAW among them), on the default bridge next to every other app, with no pids
limit, and would resolve `FROM` by any local image id prefix and fetch `ADD <url>` from the
host. So MGX interprets the Dockerfile itself, and the engine only ever runs containers under
the one sandbox recipe (containers.sandbox) and copies files:

- each stage is one container of kind "build": no capabilities, `no-new-privileges`, the app's
  own network, MGX_BUILD_* memory/CPU/pids limits, a rotating log. Its root filesystem is its
  scratch space; its main process sleeps as `nobody`.
- `RUN` steps run in it with `docker exec` as the app user (uid 1000), never root, with the
  stage's ENV and ARG values; afterwards every process the step left behind is killed, as the
  engine's one-container-per-step builder would.
- `COPY`/`ADD` are done by MGX: files from the commit's tree (after `.dockerignore`) or from an
  earlier stage are put into the stage by the engine's archive API, owned by uid 1000 (or
  `--chown`), and so are the folders `WORKDIR` makes, so the app user can write there.
- `FROM` takes only MGX's own images by their full name (MGX_RUNTIME_IMAGE, MGX_BASE_IMAGE) or an
  earlier stage; anything else, an id prefix included, is refused before anything runs.
- `ADD <url>` and remote or archive sources are refused (fetch them in a RUN step: it runs inside
  the sandbox); BuildKit-only syntax (heredocs, `RUN --mount`) is refused with a clear message.
- The last stage's container is committed as the image, with the configuration the Dockerfile
  gave (CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, LABEL, HEALTHCHECK, STOPSIGNAL); `USER` may only
  name the app user; `VOLUME` is ignored (an app's containers get no anonymous volumes).
- The whole build has MGX_BUILD_TIMEOUT: past it, its containers are killed.

Work is reused between builds of the same app, never between apps:

- step reuse (`StepCache`): after each RUN, COPY and ADD the stage's container is committed as an
  image labelled with the step's key, a hash chain over the app's identity, the base image, every
  instruction as it was expanded (a RUN's environment and folder too) and the content of the
  files a COPY brings. A later build of the same app walks its steps and, as long as each key has
  an image, starts the stage from it instead of running the steps again (`npm ci` does not run
  when package-lock.json is unchanged); from the first step that differs on, it runs them. Stage
  containers are made only when a step must run, from the last image reused.
- the app's build cache: a volume of the app's own mounted in every stage at CACHE_DIR, never
  committed into an image. RUN steps get npm's and pip's caches there (`npm_config_cache`,
  `PIP_CACHE_DIR`, unless the Dockerfile sets them), and `RUN --mount=type=cache,target=<folder>`
  (BuildKit's syntax) puts a folder of it at <folder> for that step only, as a link (the Next.js
  template keeps `.next/cache` there).

The output reads like the classic builder's (`Step 3/12 : RUN npm ci`), one line at a time to
`out`, each step ending with ` ---> Using cache` or ` ---> done in 12.3 s`. A refusal or a failed
step raises BuildFailed, whose message names the step and why.
"""
from __future__ import annotations

import collections
import hashlib
import io
import json
import posixpath
import re
import shlex
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import docker

APP_UID = 1000
KEEPER_USER = "65534:65534"  # nobody: the stage's sleeping main process, out of the steps' reach
STEP_USER = f"{APP_UID}:{APP_UID}"
APP_USERS = {"app", str(APP_UID), f"{APP_UID}:{APP_UID}", "app:app", f"{APP_UID}:app", f"app:{APP_UID}"}
MAX_LINE = 4000
# Where the app's build cache volume is mounted in every stage container (not in any image).
CACHE_DIR = "/var/cache/mgx"
STEP_LABEL = "mgx.step"  # the key of the step a step image holds the state after
SPOOL_BYTES = 32 * 1024 * 1024
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^git@")
_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$", re.I)


class BuildFailed(Exception):
    """The build cannot go on; the message says at which step and why (shown to the user)."""


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int
    text: str  # as written, on one line, for the step's heading

    def json_args(self) -> list[str] | None:
        """The exec (JSON array) form's items, or None for the shell form."""
        stripped = self.args.strip()
        if not stripped.startswith("["):
            return None
        try:
            value = json.loads(stripped)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return None


# ---------------------------------------------------------------- parsing

def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped, `\\` continuations joined."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.lstrip()
        if stripped.startswith("#"):
            continue  # a comment, also between continued lines
        if not pending and not stripped:
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        instructions.append(_instruction(pending, start))
        pending = ""
    if pending.strip():
        instructions.append(_instruction(pending, start))
    return instructions


def _instruction(text: str, line: int) -> Instruction:
    text = text.strip()
    keyword, _, args = text.partition(" ")
    keyword = keyword.upper()
    if keyword not in INSTRUCTIONS:
        raise BuildFailed(f"line {line}: unknown instruction {keyword[:40]!r}.")
    if "<<" in args and keyword in ("RUN", "COPY", "ADD") and re.search(r"<<-?\s*['\"]?[A-Za-z_]", args):
        raise BuildFailed(f"line {line}: here-documents (<<EOF) are BuildKit syntax and not supported; "
                          "write the lines in a file and COPY it, or use printf in the RUN step.")
    return Instruction(keyword=keyword, args=args.strip(), line=line, text=" ".join(text.split())[:300])


def _flags(args: str, allowed: set[str], *, what: str, line: int) -> tuple[dict, str]:
    """Leading `--name=value` flags of an instruction; an unknown one is refused."""
    flags = {}
    rest = args
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        name, _, value = word[2:].partition("=")
        if name not in allowed:
            raise BuildFailed(f"line {line}: {what} --{name} is not supported by MGX's builder.")
        flags[name] = value
        rest = rest.lstrip()
    return flags, rest


def expand(text: str, env: dict[str, str], *, split: bool = False) -> list[str] | str:
    """Docker's variable substitution ($VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}) with its
    quoting: nothing is expanded in single quotes, backslash escapes the next character.
    `split`: the words, quotes removed (for COPY, ENV, LABEL, EXPOSE…)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(text)
    quote = ""

    def var(at: int) -> tuple[str, int]:
        if at < n and text[at] == "{":
            end = text.find("}", at)
            if end < 0:
                raise BuildFailed(f"unterminated ${{ in {text[:80]!r}")
            body = text[at + 1:end]
            name, op, word_ = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?::([-+]))?(.*)", body).groups() if re.match(
                r"[A-Za-z_]", body) else (body, None, "")
            value = env.get(name, "")
            if op == "-":
                value = value or expand(word_, env)
            elif op == "+":
                value = expand(word_, env) if value else ""
            return value, end + 1
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[at:])
        if not match:
            return "$", at
        return env.get(match[0], ""), at + len(match[0])

    while i < n:
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                word.append(ch)
            i += 1
            continue
        if ch == "\\" and i + 1 < n and (quote != '"' or text[i + 1] in '"\\$'):
            word.append(text[i + 1])
            in_word = True
            i += 2
            continue
        if ch == "$":
            value, i = var(i + 1)
            word.append(value)
            in_word = True
            continue
        if ch in "'\"" and (not quote or quote == ch):
            quote = "" if quote else ch
            in_word = True
            i += 1
            continue
        if split and not quote and ch.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        word.append(ch)
        in_word = True
        i += 1
    if quote:
        raise BuildFailed(f"unterminated quote in {text[:80]!r}")
    if not split:
        return "".join(word)
    if in_word:
        words.append("".join(word))
    return words


def _pairs(args: str, env: dict[str, str], *, line: int, what: str) -> dict[str, str]:
    """`key=value …` (or the old `key value with spaces`) of ENV and LABEL."""
    words = expand(args, env, split=True)
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise BuildFailed(f"line {line}: {what} needs a value.")
        rest = args.strip().split(None, 1)[1]
        return {words[0]: expand(rest, env)}
    pairs = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BuildFailed(f"line {line}: {what} expects key=value, not {word[:60]!r}.")
        pairs[key] = value
    return pairs


# ---------------------------------------------------------------- .dockerignore

def _ignore_rules(text: str) -> list[tuple[re.Pattern, bool]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if negate else line).lstrip("/")
        if pattern in ("", "."):
            continue
        rules.append((re.compile(_glob_regex(pattern)), negate))
    return rules


def _glob_regex(pattern: str) -> str:
    """Go's filepath.Match with `**` (Docker's .dockerignore syntax) as a regular expression."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


def _ignored(path: str, rules) -> bool:
    """As Docker decides: the last rule that matches the path or one of its parent folders wins."""
    parts = path.split("/")
    excluded = False
    for regex, negate in rules:
        for depth in range(1, len(parts) + 1):
            if regex.match("/".join(parts[:depth])):
                excluded = not negate
                break
    return excluded


# ---------------------------------------------------------------- the context

class Context:
    """The build context: a tar of the commit's folder, with `.dockerignore` applied."""

    def __init__(self, data: bytes):
        self.data = data
        self.entries: dict[str, tarfile.TarInfo] = {}
        # Each file's content hash, taken in the one pass over the archive (the step keys need them).
        self._digests: dict[str, str] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                name = posixpath.normpath(member.name).lstrip("/")
                if name in ("", ".") or name.startswith("../") or member.type not in (
                        tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE):
                    continue
                if member.isfile():
                    self._digests[name] = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
                member.name = name
                self.entries[name] = member
        self.dockerfile = self._text("Dockerfile")
        rules = _ignore_rules(self._text(".dockerignore") or "")
        if rules:
            self.entries = {name: info for name, info in self.entries.items() if not _ignored(name, rules)}

    def _text(self, name: str) -> str | None:
        info = self.entries.get(name)
        if info is None or not info.isfile():
            return None
        with tarfile.open(fileobj=io.BytesIO(self.data)) as archive:
            return archive.extractfile(info.name).read().decode("utf-8", "replace")

    def match(self, source: str, *, line: int) -> tuple[list[tuple[str, str]], bool]:
        """(context path, path relative to what is copied) for a COPY source, and whether it is
        a folder (or several things) whose contents are copied. Refused: paths outside the
        context, nothing matched."""
        clean = posixpath.normpath(source.lstrip("/")) if source.strip("/") else "."
        if clean == ".." or clean.startswith("../"):
            raise BuildFailed(f"line {line}: {source} is outside the build context.")
        if clean == ".":
            return [(name, name) for name in self.entries], True
        if any(ch in clean for ch in "*?["):
            regex = re.compile(_glob_regex(clean))
            tops = [name for name in self.entries if regex.match(name)]
        else:
            tops = [clean] if clean in self.entries or any(n.startswith(clean + "/") for n in self.entries) else []
        if not tops:
            raise BuildFailed(f"line {line}: COPY source {source} is not in the build context "
                              "(not committed, or left out by .dockerignore).")
        found, folder = [], len(tops) > 1
        for top in tops:
            info = self.entries.get(top)
            if info is not None and not info.isdir():
                found.append((top, posixpath.basename(top)))
                continue
            folder = True
            found.extend((name, name[len(top) + 1:]) for name in self.entries if name.startswith(top + "/"))
        return found, folder

    def read(self, archive: tarfile.TarFile, name: str):
        return archive.extractfile(self.entries[name].name)

    def identity(self, name: str) -> list:
        """What a step key knows of a context entry: its kind, mode, link and content hash (not
        its time: `git archive` stamps every file with the commit's)."""
        info = self.entries[name]
        return [info.type.decode(), info.mode, info.linkname, self._digests.get(name, "")]


# ---------------------------------------------------------------- stages

@dataclass
class Stage:
    name: str
    env: dict[str, str]
    base: str = ""  # the image of its state: the FROM image, or the last step kept or reused
    base_stage: "Stage | None" = None  # FROM an earlier stage: its final state, resolved when needed
    key: str = ""  # the step key chain up to here
    container: object | None = None  # made when a step must run in this stage (see _container_for)
    container_base: str = ""  # the image the container was made from
    dirty: bool = False  # the container holds changes `base` does not
    missed: bool = False  # a step of this stage ran: the ones after it run too
    pending_dirs: list[str] = field(default_factory=list)  # WORKDIR folders to make in the container
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    exposed: dict = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: dict | None = None
    stop_signal: str = ""

    def vars(self) -> dict[str, str]:
        """What ${…} sees: ARG values, overridden by ENV (as Docker does)."""
        return {**self.args, **self.env}


@dataclass
class StepCache:
    """The states an app's earlier builds reached after their steps, as images labelled with the
    step's key (STEP_LABEL) and `labels` (the app's and MGX's, so they go with the app). `seed`
    (the app's identity) starts every key chain: two apps' keys never meet, and `find` looks only
    among images carrying this app's labels. `reuse` False: a cold build, which keeps its steps
    for the next one but reuses none. `used`: the keys this build reused or made (what a pruning
    after it keeps)."""
    engine: object
    seed: str
    labels: dict[str, str]
    reuse: bool = True
    used: set[str] = field(default_factory=set)

    def _filters(self, key: str) -> dict:
        return {"label": [f"{STEP_LABEL}={key}", *(f"{name}={value}" for name, value in self.labels.items())]}

    def find(self, key: str) -> str | None:
        if not self.reuse:
            return None
        found = self.engine.images.list(all=True, filters=self._filters(key))
        if not found:
            return None
        self.used.add(key)
        return found[0].id

    def keep(self, container, key: str) -> str:
        image = container.commit(conf={"Labels": {**self.labels, STEP_LABEL: key}})
        self.used.add(key)
        return image.id


def _chain(previous: str, *parts) -> str:
    """The next key of a step key chain."""
    return hashlib.sha256((previous + "\0" + json.dumps(parts, sort_keys=True, default=str)).encode()).hexdigest()


@dataclass
class Build:
    engine: object
    context: Context
    build_args: dict[str, str]
    bases: dict[str, str]  # allowed FROM names -> image id
    network: str
    confinement: dict  # containers.sandbox.sandbox(kind="build", …)
    labels: dict[str, str]  # on every stage container
    name: str  # container name prefix
    out: Callable[[str], None]
    deadline: float
    cache: StepCache | None = None
    mounts: list = field(default_factory=list)  # the app's build cache volume at CACHE_DIR
    step_env: dict[str, str] = field(default_factory=dict)  # every RUN's defaults (the caches' places)
    stages: list[Stage] = field(default_factory=list)
    temporary_images: list[str] = field(default_factory=list)
    timed_out: bool = False


def build_image(engine, *, context: bytes, repository: str, tag: str, build_args: dict[str, str],
                bases: dict[str, str], confinement: dict, labels: dict[str, str], image_labels: dict[str, str],
                name: str, out: Callable[[str], None], timeout: float, cache: StepCache | None = None,
                cache_volume: str = "") -> str:
    """Build the Dockerfile at the root of `context` (a tar) and tag the result
    `repository:tag`; the image id. `bases`: the image names FROM may use and their ids.
    `cache`: the app's earlier steps to reuse, and where this build's are kept; `cache_volume`:
    the app's own build cache volume, mounted at CACHE_DIR in every stage."""
    ctx = Context(context)
    if ctx.dockerfile is None:
        raise BuildFailed("There is no Dockerfile in this folder (or .dockerignore leaves it out of the build).")
    instructions = parse(ctx.dockerfile)
    _check(instructions, build_args, bases)
    build = Build(engine=engine, context=ctx, build_args=build_args, bases=bases, network=confinement["network"],
                  confinement=confinement, labels=labels, name=name, out=out, deadline=time.monotonic() + timeout,
                  cache=cache)
    if cache_volume:
        # no_copy: a stage made from a kept step has the mount point in its image, and the engine
        # would otherwise copy that root-owned folder's owner onto a still empty volume.
        build.mounts = [docker.types.Mount(target=CACHE_DIR, source=cache_volume, type="volume", no_copy=True)]
        build.step_env = {"npm_config_cache": f"{CACHE_DIR}/npm", "PIP_CACHE_DIR": f"{CACHE_DIR}/pip"}
    watchdog = threading.Timer(timeout, _time_up, args=(build,))
    watchdog.daemon = True
    watchdog.start()
    total = len(instructions)
    global_args: dict[str, str] = {}
    number = 0
    try:
        for number, ins in enumerate(instructions, start=1):
            out(f"Step {number}/{total} : {ins.text}")
            started = time.monotonic()
            try:
                done = _step(build, ins, global_args)
            except BuildFailed:
                raise
            except docker.errors.DockerException as exc:
                if build.timed_out:
                    raise BuildFailed(_timeout_message(timeout, number, total, ins)) from exc
                raise BuildFailed(f"at step {number}/{total} ({ins.text[:100]}): the engine refused: "
                                  f"{str(exc)[:300]}") from exc
            if build.timed_out:
                raise BuildFailed(_timeout_message(timeout, number, total, ins))
            if done == REUSED:
                out(" ---> Using cache")
            elif done is not None:
                out(f" ---> done in {time.monotonic() - started:.1f} s" + (f" (kept in {done:.1f} s)" if done else ""))
        stage = build.stages[-1]
        _container_for(build, stage)
        _end_leftovers(stage)
        image = stage.container.commit(repository=repository, tag=tag,
                                       conf=_image_config(stage, {**image_labels, STEP_LABEL: ""}))
        return image.id
    except docker.errors.DockerException as exc:
        if build.timed_out:
            raise BuildFailed(_timeout_message(timeout, number, total, None)) from exc
        raise BuildFailed(f"the image could not be saved: {str(exc)[:300]}") from exc
    finally:
        watchdog.cancel()
        for stage in build.stages:
            try:
                if stage.container is not None:
                    stage.container.remove(force=True)
            except docker.errors.DockerException:
                pass
        for image_id in build.temporary_images:
            try:
                engine.images.remove(image_id, force=True)
            except docker.errors.DockerException:
                pass


def _timeout_message(timeout: float, number: int, total: int, ins: Instruction | None) -> str:
    where = f" at step {number}/{total} ({ins.text[:100]})" if ins else ""
    return f"the build took longer than {timeout / 60:g} minutes (MGX_BUILD_TIMEOUT){where}"


def _time_up(build: Build) -> None:
    build.timed_out = True
    for stage in build.stages:
        try:
            if stage.container is not None:
                stage.container.kill()
        except docker.errors.DockerException:
            pass


def _check(instructions: list[Instruction], build_args: dict[str, str], bases: dict[str, str]) -> None:
    """Refuse what the builder will not do before any container starts."""
    if not instructions or instructions[0].keyword not in ("FROM", "ARG"):
        raise BuildFailed("A Dockerfile must start with FROM (or ARG before FROM).")
    global_args: dict[str, str] = {}
    stage_names: list[str] = []
    stage_count = 0
    seen_from = False
    for ins in instructions:
        if ins.keyword == "ARG" and not seen_from:
            name, _, default = ins.args.partition("=")
            global_args[name.strip()] = build_args.get(name.strip(), expand(default, global_args))
        elif ins.keyword == "FROM":
            seen_from = True
            stage_count += 1
            image, alias = _from_parts(ins, global_args)
            if image.lower() not in stage_names and image not in bases:
                raise BuildFailed(f"line {ins.line}: FROM {image[:100]} is refused: a build may start only from "
                                  f"MGX's own images ({', '.join(sorted(bases))}) named in full, or from an "
                                  "earlier stage of this Dockerfile.")
            if alias:
                stage_names.append(alias.lower())
        elif ins.keyword == "RUN":
            _run_flags(ins)
        elif ins.keyword in ("COPY", "ADD"):
            flags, rest = _flags(ins.args, {"from", "chown", "chmod", "link"}, what=ins.keyword, line=ins.line)
            source = flags.get("from", "").lower()
            if "from" in flags and source not in stage_names and not (
                    source.isdigit() and int(source) < stage_count - 1):
                raise BuildFailed(f"line {ins.line}: {ins.keyword} --from={flags['from'][:100]}: no earlier stage has "
                                  "that name; copying from an image is not supported.")
            if ins.keyword == "ADD":
                sources = (ins.json_args() or shlex.split(rest, posix=True) or [""])[:-1]
                for source in sources:
                    if _URL.match(source):
                        raise BuildFailed(f"line {ins.line}: ADD {source[:100]} is refused: a build fetches nothing "
                                          "through the engine. Download it in a RUN step (curl), which runs inside "
                                          "the build's sandbox.")
                    if _ARCHIVE.search(source):
                        raise BuildFailed(f"line {ins.line}: ADD of an archive ({source[:100]}) is not supported; "
                                          "COPY it and unpack it with tar in a RUN step.")
        elif ins.keyword == "USER":
            user = ins.args.strip()
            if user not in APP_USERS and "$" not in user:
                raise BuildFailed(f"line {ins.line}: USER {user[:40]} is refused: every step of a build and every "
                                  f"app container runs as the app user (uid {APP_UID}); write USER app or "
                                  "leave it out.")
        elif ins.keyword == "ONBUILD":
            raise BuildFailed(f"line {ins.line}: ONBUILD is not supported by MGX's builder.")
    if not seen_from:
        raise BuildFailed("The Dockerfile has no FROM.")


def _from_parts(ins: Instruction, global_args: dict[str, str]) -> tuple[str, str]:
    flags, rest = _flags(ins.args, {"platform"}, what="FROM", line=ins.line)
    words = expand(rest, global_args, split=True)
    if len(words) == 1:
        return words[0], ""
    if len(words) == 3 and words[1].lower() == "as":
        return words[0], words[2]
    raise BuildFailed(f"line {ins.line}: FROM expects an image and optionally AS name.")


REUSED = "reused"


def _step(build: Build, ins: Instruction, global_args: dict[str, str]):
    """Do one instruction. None for one that only changes what the image will say (ENV, CMD…),
    REUSED for a step whose result an earlier build kept, otherwise the seconds it took to keep
    this step's result for the next build (0.0 when nothing is kept)."""
    if ins.keyword == "FROM":
        _from(build, ins, global_args)
        return None
    if ins.keyword == "ARG" and not build.stages:
        name, _, default = ins.args.partition("=")
        name = name.strip()
        global_args[name] = build.build_args.get(name, expand(default, global_args))
        return None
    stage = build.stages[-1]
    if ins.keyword == "WORKDIR":
        _workdir(build, stage, ins)
        return None
    if ins.keyword == "RUN":
        spec = _run_spec(build, stage, ins)
        return _filesystem_step(build, stage, ins, spec.identity(), lambda: _run(build, stage, spec))
    if ins.keyword in ("COPY", "ADD"):
        spec = _copy_spec(build, stage, ins)
        return _filesystem_step(build, stage, ins, spec.identity, lambda: _copy(build, stage, spec))
    handler = {"ENV": _env, "ARG": _arg, "LABEL": _label, "MAINTAINER": _maintainer, "EXPOSE": _expose,
               "CMD": _cmd, "ENTRYPOINT": _entrypoint, "USER": _user, "SHELL": _shell,
               "HEALTHCHECK": _healthcheck, "STOPSIGNAL": _stop_signal, "VOLUME": _volume}[ins.keyword]
    handler(build, stage, ins, global_args)
    return None


def _filesystem_step(build: Build, stage: Stage, ins: Instruction, identity: list, apply: Callable[[], None]):
    """A step that changes files: reused while no step of the stage has run and an earlier build
    kept the state after a step with this key; otherwise run, then kept."""
    key = _chain(stage.key, ins.keyword, identity)
    if not stage.missed and build.cache is not None:
        found = build.cache.find(key)
        if found:
            stage.base, stage.base_stage, stage.key, stage.pending_dirs = found, None, key, []
            return REUSED
    stage.missed = True
    _container_for(build, stage)
    apply()
    stage.key, stage.dirty = key, True
    if build.cache is None:
        return 0.0
    started = time.monotonic()
    stage.base, stage.dirty = build.cache.keep(stage.container, key), False
    return time.monotonic() - started


def _from(build: Build, ins: Instruction, global_args: dict[str, str]) -> None:
    image, alias = _from_parts(ins, global_args)
    earlier = next((s for s in build.stages if s.name and s.name == image.lower()), None)
    seed = build.cache.seed if build.cache else ""
    if earlier is not None:
        # The earlier stage's final state and what it would say as an image.
        stage = Stage(name=alias.lower(), env=dict(earlier.env), base_stage=earlier,
                      key=_chain(seed, "FROM-STAGE", earlier.key), workdir=earlier.workdir, cmd=earlier.cmd,
                      entrypoint=earlier.entrypoint, exposed=dict(earlier.exposed), stop_signal=earlier.stop_signal)
    else:
        base = build.bases[image]
        config = build.engine.images.get(base).attrs.get("Config") or {}
        env = dict(item.split("=", 1) for item in (config.get("Env") or []) if "=" in item)
        stage = Stage(name=alias.lower(), env=env, base=base, key=_chain(seed, "FROM", base),
                      workdir=config.get("WorkingDir") or "/", cmd=config.get("Cmd"),
                      entrypoint=config.get("Entrypoint"), exposed=dict(config.get("ExposedPorts") or {}),
                      stop_signal=config.get("StopSignal") or "")
    build.stages.append(stage)


def _final_image(build: Build, stage: Stage) -> str:
    """An image of the stage's state now: the last image kept or reused when nothing changed
    since, else its container committed (a temporary image, removed after the build)."""
    if not stage.dirty and not stage.pending_dirs:
        return stage.base or _final_image(build, stage.base_stage)
    _container_for(build, stage)
    _end_leftovers(stage)
    image = stage.container.commit(conf=_image_config(stage, {})).id
    build.temporary_images.append(image)
    return image


def _container_for(build: Build, stage: Stage, *, reading: bool = False) -> None:
    """Make sure the stage's container holds its state now, with the folders WORKDIR asked for.
    After a step is kept, the container is made again from the image of it, so that each image
    kept holds one step's changes on top of the one before (a commit holds everything the
    container changed since it was made: committing one container again and again would store
    `npm ci`'s node_modules once more with every later step). `reading`: only to copy files
    out of it, which the container just kept does as well as one made afresh."""
    if not stage.base:
        stage.base, stage.base_stage = _final_image(build, stage.base_stage), None
    if reading and stage.container is not None and not stage.pending_dirs:
        return
    if stage.container is not None and stage.container_base != stage.base:
        stage.container.remove(force=True)
        stage.container = None
    if stage.container is None:
        index = build.stages.index(stage)
        container = build.engine.containers.create(
            image=stage.base, name=f"{build.name}-s{index}", entrypoint=["sleep"], command=["infinity"], init=True,
            labels=build.labels, mounts=build.mounts, **{**build.confinement, "user": KEEPER_USER}, detach=True)
        stage.container, stage.container_base = container, stage.base
        container.start()
    for path in stage.pending_dirs:
        _make_dirs(build, stage, path, owner=(APP_UID, APP_UID))
        stage.dirty = True
    stage.pending_dirs = []


# ---------------------------------------------------------------- RUN

@dataclass
class _CacheMount:
    target: str  # where the step sees it
    source: str  # its folder in the app's build cache


@dataclass
class _RunSpec:
    argv: list[str]
    environment: dict[str, str]
    workdir: str
    mounts: list[_CacheMount]

    def identity(self) -> list:
        return [self.argv, sorted(self.environment.items()), self.workdir,
                [[m.target, m.source] for m in self.mounts]]


_MOUNT_OPTIONS = {"type", "target", "dst", "destination", "id", "sharing", "mode", "uid", "gid", "required"}


def _run_flags(ins: Instruction) -> tuple[list[dict[str, str]], str]:
    """A RUN's `--mount` options (only type=cache) and its command; other flags are refused."""
    rest = ins.args
    mounts = []
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, _, value = word[2:].partition("=")
        if name != "mount":
            raise BuildFailed(f"line {ins.line}: RUN --{name[:40]} is not supported by MGX's builder.")
        options = {}
        for part in value.split(","):
            key, sep, option = part.partition("=")
            options[key.strip()] = option.strip() if sep else "true"
        kind = options.get("type", "bind")
        if kind != "cache":
            raise BuildFailed(f"line {ins.line}: RUN --mount is not supported for type={kind[:20]}: MGX's builder "
                              "mounts only caches (--mount=type=cache,target=<folder>), kept in the app's own build "
                              "cache; COPY what the step needs.")
        unknown = sorted(set(options) - _MOUNT_OPTIONS)
        if unknown:
            raise BuildFailed(f"line {ins.line}: RUN --mount=type=cache: the option {unknown[0][:20]} is not "
                              "supported by MGX's builder (target, id and sharing are).")
        if not (options.get("target") or options.get("dst") or options.get("destination")):
            raise BuildFailed(f"line {ins.line}: RUN --mount=type=cache needs a target folder.")
        mounts.append(options)
    return mounts, rest


def _run_spec(build: Build, stage: Stage, ins: Instruction) -> _RunSpec:
    options, rest = _run_flags(ins)
    command = Instruction(keyword="RUN", args=rest, line=ins.line, text=ins.text)
    argv = command.json_args() or [*stage.shell, rest]
    mounts = []
    for option in options:
        target = expand(option.get("target") or option.get("dst") or option.get("destination"), stage.vars())
        target = posixpath.normpath(posixpath.join(stage.workdir, target))
        cache_id = option.get("id") or target
        if target == "/" or target == CACHE_DIR or target.startswith(CACHE_DIR + "/"):
            raise BuildFailed(f"line {ins.line}: RUN --mount=type=cache,target={target[:80]} is refused.")
        mounts.append(_CacheMount(target=target,
                                  source=f"{CACHE_DIR}/mounts/{hashlib.sha256(cache_id.encode()).hexdigest()[:16]}"))
    return _RunSpec(argv=argv, environment={**build.step_env, **stage.args, **stage.env}, workdir=stage.workdir,
                    mounts=mounts)


# A cache mount is a link from the target to the cache's folder for the step's duration: the step
# writes through it into the app's build cache volume, and nothing of it stays in the image (an
# empty folder stays at the target, as BuildKit's mount point does). What was at the target
# before waits beside it and comes back afterwards.
_MOUNT = r"""set -e
source=$1 target=$2
mkdir -p "$source" "$(dirname "$target")"
if [ -L "$target" ]; then rm -f "$target"; fi
if [ -e "$target" ]; then rm -rf "$target.mgx-aside"; mv "$target" "$target.mgx-aside"; fi
ln -s "$source" "$target"
"""
_UNMOUNT = r"""source=$1 target=$2
if [ -L "$target" ] && [ "$(readlink "$target")" = "$source" ]; then rm -f "$target"; fi
if [ -e "$target.mgx-aside" ]; then
  if [ -e "$target" ]; then rm -rf "$target.mgx-aside"; else mv "$target.mgx-aside" "$target"; fi
fi
[ -e "$target" ] || mkdir -p "$target"
"""


def _run(build: Build, stage: Stage, spec: _RunSpec) -> None:
    if spec.mounts and not build.mounts:
        build.out("(no build cache for this build: --mount=type=cache folders start empty)")
    mounted = []
    try:
        for mount in spec.mounts if build.mounts else []:
            done = stage.container.exec_run(["sh", "-c", _MOUNT, "sh", mount.source, mount.target], user=STEP_USER)
            if done.exit_code != 0:
                raise BuildFailed(f"the cache folder {mount.target} could not be put in place (the app user, uid "
                                  f"{APP_UID}, must be able to write its parent folder): "
                                  f"{(done.output or b'').decode('utf-8', 'replace').strip()[-300:]}")
            mounted.append(mount)
        _exec(build, stage, spec)
    finally:
        if stage.container is not None and not build.timed_out:
            for mount in mounted:
                stage.container.exec_run(["sh", "-c", _UNMOUNT, "sh", mount.source, mount.target], user=STEP_USER)


def _exec(build: Build, stage: Stage, spec: _RunSpec) -> None:
    api = build.engine.api
    run = api.exec_create(stage.container.id, spec.argv, user=STEP_USER, workdir=spec.workdir,
                          environment=spec.environment, stdout=True, stderr=True)
    pending = ""
    seen = collections.deque(maxlen=30)
    for chunk in api.exec_start(run["Id"], stream=True):
        *lines, pending = (pending + _ANSI.sub("", chunk.decode("utf-8", "replace"))).split("\n")
        for text in lines:
            seen.append(text)
            build.out(text.rstrip()[:MAX_LINE])
        if len(pending) > MAX_LINE:
            build.out(pending[:MAX_LINE])
            pending = ""
    if pending.strip():
        seen.append(pending)
        build.out(pending.rstrip()[:MAX_LINE])
    seen = "\n".join(seen)
    if build.timed_out:
        return
    code = api.exec_inspect(run["Id"]).get("ExitCode")
    _end_leftovers(stage)
    if code != 0:
        hint = (f" (steps run as the app user, uid {APP_UID}: they may write in folders the Dockerfile made with "
                "WORKDIR or COPY, in HOME and in /tmp)") if "ermission denied" in seen else ""
        raise BuildFailed(f"the command exited with code {code}{hint}")


def _end_leftovers(stage: Stage) -> None:
    """Kill whatever a RUN step left running (a daemon it started): the next step and the image
    start from files only, as with the engine's container per step."""
    stage.container.exec_run(["sh", "-c", "kill -9 -1 2>/dev/null; true"], user=STEP_USER)


def _workdir(build: Build, stage: Stage, ins: Instruction) -> None:
    """The folder is made in the container before the next step that runs there (a WORKDIR
    alone is not worth an image of its own)."""
    path = posixpath.normpath(posixpath.join(stage.workdir, expand(ins.args.strip(), stage.vars())))
    stage.key = _chain(stage.key, "WORKDIR", path)
    stage.workdir = path
    stage.pending_dirs.append(path)


def _existing(stage: Stage, paths: list[str]) -> dict[str, str]:
    """Which of `paths` exist in the stage: "d" (folder) or "f" (anything else)."""
    script = 'for p in "$@"; do if [ -d "$p" ]; then echo "d $p"; elif [ -e "$p" ] || [ -L "$p" ]; then echo "f $p"; fi; done'
    done = stage.container.exec_run(["sh", "-c", script, "sh", *paths], user=STEP_USER)
    found = {}
    for line in (done.output or b"").decode("utf-8", "replace").splitlines():
        kind, _, path = line.partition(" ")
        found[path] = kind
    return found


def _missing_dirs(stage: Stage, path: str) -> list[str]:
    """The folders of `path` (itself included) that do not exist yet, outermost first."""
    chain = []
    current = path
    while current not in ("/", ""):
        chain.append(current)
        current = posixpath.dirname(current)
    existing = _existing(stage, chain) if chain else {}
    for candidate in chain:
        if existing.get(candidate) == "f":
            raise BuildFailed(f"{candidate} exists and is not a folder.")
    return [candidate for candidate in reversed(chain) if candidate not in existing]


def _dir_info(path: str, owner: tuple[int, int], mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid, info.gid = owner
    info.mtime = int(time.time())
    return info


def _make_dirs(build: Build, stage: Stage, path: str, *, owner: tuple[int, int]) -> None:
    missing = _missing_dirs(stage, path)
    if not missing:
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in missing:
            archive.addfile(_dir_info(folder, owner))
    stage.container.put_archive("/", buffer.getvalue())


def _owner(spec: str, *, line: int) -> tuple[int, int]:
    if not spec:
        return APP_UID, APP_UID
    user, _, group = spec.partition(":")
    ids = {"app": APP_UID, "root": 0}

    def one(value: str) -> int:
        if value.isdigit():
            return int(value)
        if value in ids:
            return ids[value]
        raise BuildFailed(f"line {line}: --chown={spec}: name the user by number, or as app or root.")

    uid = one(user)
    return uid, one(group) if group else uid


@dataclass
class _CopySpec:
    ins: Instruction
    sources: list[str]
    dest: str
    target: str
    owner: tuple[int, int]
    chmod: int | None
    matched: list[tuple[str, str]] | None  # from the context: (context path, relative path)
    folder: bool  # the context's sources include a folder's contents
    source_stage: Stage | None  # COPY --from
    identity: list  # what the step key knows of it


def _copy_spec(build: Build, stage: Stage, ins: Instruction) -> _CopySpec:
    flags, rest = _flags(ins.args, {"from", "chown", "chmod", "link"}, what=ins.keyword, line=ins.line)
    items = ins.json_args() if rest.startswith("[") else None
    words = [expand(item, stage.vars()) for item in items] if items is not None else expand(rest, stage.vars(), split=True)
    if len(words) < 2:
        raise BuildFailed(f"line {ins.line}: {ins.keyword} needs a source and a destination.")
    *sources, dest = words
    owner = _owner(expand(flags.get("chown", ""), stage.vars()), line=ins.line)
    chmod = int(flags["chmod"], 8) if flags.get("chmod") else None
    target = posixpath.normpath(posixpath.join(stage.workdir, dest))
    described = [sources, dest, target, owner, chmod]
    if "from" in flags:
        source = _source_stage(build, flags["from"], ins)
        for item in sources:
            if any(ch in item for ch in "*?["):
                raise BuildFailed(f"line {ins.line}: COPY --from with a wildcard ({item}) is not supported.")
        # The source stage is done: its key says everything about its files.
        return _CopySpec(ins=ins, sources=sources, dest=dest, target=target, owner=owner, chmod=chmod, matched=None,
                         folder=False, source_stage=source, identity=[*described, "stage", source.key])
    matched, folder = [], False
    for item in sources:
        found, is_folder = build.context.match(item, line=ins.line)
        folder = folder or is_folder
        matched.extend(found)
    content = [[name, relative, *build.context.identity(name)] for name, relative in matched]
    return _CopySpec(ins=ins, sources=sources, dest=dest, target=target, owner=owner, chmod=chmod, matched=matched,
                     folder=folder, source_stage=None, identity=[*described, "context", content])


def _copy(build: Build, stage: Stage, spec: _CopySpec) -> None:
    if spec.source_stage is not None:
        plan = _plan_from_stage(build, spec.source_stage, spec.sources, spec.ins)
    else:
        plan = _plan_from_context(build, spec.matched, spec.folder)
    target, owner, chmod, dest, sources = spec.target, spec.owner, spec.chmod, spec.dest, spec.sources
    # As Docker decides: into a folder when the destination says so (a trailing /, several
    # sources) or is one, or when what is copied is a folder's contents.
    into_folder = (dest.endswith("/") or len(sources) > 1 or plan.folder or plan.count > 1
                   or _existing(stage, [target]).get(target) == "d")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        with tarfile.open(fileobj=spool, mode="w") as archive:
            # Folders that do not exist yet are made owned like the files (the engine would make
            # them root's, and the app user could not write in them).
            parent = target if into_folder else posixpath.dirname(target)
            for folder in _missing_dirs(stage, parent) if parent not in ("/", "") else []:
                archive.addfile(_dir_info(folder, owner))
            plan.write(archive, target=target, into_folder=into_folder, owner=owner, chmod=chmod)
        spool.seek(0)
        stage.container.put_archive("/", spool)
    finally:
        spool.close()


def _place(info: tarfile.TarInfo, name: str, owner: tuple[int, int], chmod: int | None) -> tarfile.TarInfo:
    placed = tarfile.TarInfo(name.lstrip("/"))
    for attribute in ("size", "mode", "mtime", "type", "linkname"):
        setattr(placed, attribute, getattr(info, attribute))
    placed.uid, placed.gid = owner
    if chmod is not None and not placed.issym():
        placed.mode = chmod
    return placed


@dataclass
class _Plan:
    folder: bool  # a folder's contents are copied
    count: int  # how many things a wildcard matched
    write: Callable


def _plan_from_context(build: Build, matched: list[tuple[str, str]], folder: bool) -> _Plan:
    def write(archive, *, target, into_folder, owner, chmod):
        with tarfile.open(fileobj=io.BytesIO(build.context.data)) as source_archive:
            for name, relative in matched:
                info = build.context.entries[name]
                dest = posixpath.join(target, relative) if into_folder else target
                placed = _place(info, dest, owner, chmod)
                archive.addfile(placed, build.context.read(source_archive, name) if info.isfile() else None)

    return _Plan(folder=folder, count=1, write=write)


def _source_stage(build: Build, source_stage: str, ins: Instruction) -> Stage:
    key = source_stage.lower()
    stage = next((s for s in build.stages[:-1] if s.name == key), None)
    if stage is None and key.isdigit() and int(key) < len(build.stages) - 1:
        stage = build.stages[int(key)]
    if stage is None:
        raise BuildFailed(f"line {ins.line}: COPY --from={source_stage}: no earlier stage has that name; "
                          "copying from an image is not supported.")
    return stage


def _plan_from_stage(build: Build, stage: Stage, sources: list[str], ins: Instruction) -> _Plan:
    _container_for(build, stage, reading=True)
    found = []
    for source in sources:
        path = posixpath.normpath(posixpath.join(stage.workdir, source))
        try:
            stream, stat = build.engine.api.get_archive(stage.container.id, path)
        except docker.errors.NotFound:
            raise BuildFailed(f"line {ins.line}: {path} does not exist in stage {stage.name or build.stages.index(stage)}."
                              ) from None
        found.append((path, stream, bool(stat.get("mode", 0) & (1 << 31))))  # Go's os.ModeDir

    def write(archive, *, target, into_folder, owner, chmod):
        for path, stream, is_dir in found:
            _copy_archive(archive, stream, path=path, is_dir=is_dir, target=target, into_folder=into_folder,
                          owner=owner, chmod=chmod)

    return _Plan(folder=any(is_dir for _, _, is_dir in found), count=len(found), write=write)


def _copy_archive(archive, stream, *, path, is_dir, target, into_folder, owner, chmod) -> None:
    """The engine's archive of `path` in an earlier stage, renamed to its destination."""
    reader = tarfile.open(fileobj=_StreamReader(stream), mode="r|")
    top = posixpath.basename(path.rstrip("/")) or "."
    renames = {}
    for info in reader:
        name = posixpath.normpath(info.name)
        if name == top:
            relative = ""
        elif name.startswith(top + "/"):
            relative = name[len(top) + 1:]
        else:
            continue
        if is_dir:
            dest = posixpath.join(target, relative) if relative else target
        else:
            dest = posixpath.join(target, posixpath.basename(path)) if into_folder else target
        renames[info.name] = dest.lstrip("/")
        if dest == target and info.isdir():
            continue  # the destination folder itself: made (or there already) with its owner
        placed = _place(info, dest, owner, chmod)
        if info.islnk():
            placed.linkname = renames.get(info.linkname, info.linkname)
        archive.addfile(placed, reader.extractfile(info) if info.isfile() else None)


class _StreamReader(io.RawIOBase):
    """A file over the engine's chunked archive stream, for tarfile's streaming mode."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def _env(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    stage.env.update(_pairs(ins.args, stage.vars(), line=ins.line, what="ENV"))


def _arg(build: Build, stage: Stage, ins: Instruction, global_args: dict[str, str]) -> None:
    name, sep, default = ins.args.partition("=")
    name = name.strip()
    if name in build.build_args:
        stage.args[name] = build.build_args[name]
    elif sep:
        stage.args[name] = expand(default, stage.vars())
    elif name in global_args:
        stage.args[name] = global_args[name]


def _label(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    for key, value in _pairs(ins.args, stage.vars(), line=ins.line, what="LABEL").items():
        if key.startswith(("mgx.", "org.mgx.")):
            build.out(f"(label {key} is MGX's own and is left out)")
            continue
        stage.labels[key] = value


def _maintainer(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    stage.labels["maintainer"] = ins.args.strip()


def _expose(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    for word in expand(ins.args, stage.vars(), split=True):
        port, _, proto = word.partition("/")
        if not port.isdigit():
            raise BuildFailed(f"line {ins.line}: EXPOSE {word[:40]} is not a port.")
        stage.exposed[f"{port}/{proto or 'tcp'}"] = {}


def _command(stage: Stage, ins: Instruction) -> list[str]:
    return ins.json_args() or [*stage.shell, ins.args]


def _cmd(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    stage.cmd = _command(stage, ins)


def _entrypoint(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    stage.entrypoint = _command(stage, ins)
    stage.cmd = None  # as Docker does: an ENTRYPOINT drops the CMD inherited from the base


def _user(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    user = expand(ins.args.strip(), stage.vars())
    if user not in APP_USERS:
        raise BuildFailed(f"line {ins.line}: USER {user[:40]} is refused: builds and app containers run as the app "
                          f"user (uid {APP_UID}).")


def _shell(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    shell = ins.json_args()
    if not shell:
        raise BuildFailed(f'line {ins.line}: SHELL takes a JSON array, e.g. SHELL ["/bin/bash", "-c"].')
    stage.shell = shell


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def _duration(text: str, *, line: int) -> int:
    match = _DURATION.match(text)
    if not match:
        raise BuildFailed(f"line {line}: HEALTHCHECK duration {text[:20]} is not like 10s or 1m.")
    return int(float(match[1]) * {"ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[match[2]])


def _healthcheck(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    if ins.args.strip().upper() == "NONE":
        stage.healthcheck = {"Test": ["NONE"]}
        return
    flags, rest = _flags(ins.args, {"interval", "timeout", "start-period", "retries", "start-interval"},
                         what="HEALTHCHECK", line=ins.line)
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise BuildFailed(f"line {ins.line}: HEALTHCHECK expects CMD or NONE.")
    probe = Instruction(keyword="CMD", args=command.strip(), line=ins.line, text="")
    items = probe.json_args()
    check: dict = {"Test": ["CMD", *items] if items is not None else ["CMD-SHELL", command.strip()]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        if flags.get(flag):
            check[key] = _duration(flags[flag], line=ins.line)
    if flags.get("retries"):
        check["Retries"] = int(flags["retries"])
    stage.healthcheck = check


def _stop_signal(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    stage.stop_signal = ins.args.strip()


def _volume(build: Build, stage: Stage, ins: Instruction, _globals) -> None:
    build.out("(VOLUME is ignored: an app's containers get no volumes of their own)")


def _image_config(stage: Stage, labels: dict[str, str]) -> dict:
    config = {
        "Cmd": stage.cmd or ([] if stage.entrypoint else ["sh"]),
        "Entrypoint": stage.entrypoint or [],
        "Env": [f"{key}={value}" for key, value in stage.env.items()],
        "WorkingDir": stage.workdir,
        "User": STEP_USER,
        "ExposedPorts": stage.exposed,
        "Labels": {**stage.labels, **labels},
        "StopSignal": stage.stop_signal,
    }
    if stage.healthcheck:
        config["Healthcheck"] = stage.healthcheck
    return config
