"""The team's tools: what a role may do to its app, and nothing more.

Files are touched only through `workspaces.fs.Workspace` (path safety: no absolute paths, no
`..`, no `.git`, no symlink out; atomic renames). The workspace lock is MGX's, on the host: the
editor's saves carry versions, and MGX takes the lock when it commits the agent's work. What a
command changed is asked of MGX (`/changes`), which reads git on the host; the agent runs no git.
Anything that runs code goes to MGX's internal agent API over HTTP (`MGX_AGENT_API_URL`, bearer
`MGX_AGENT_TOKEN`), which runs it in the app's own dev container: the agent never gets a Docker
socket and never runs a command on the host.

`approval_needed` says which calls pause for the user (LangGraph interrupt): run_command,
delete_file, ask_user (a question), and writes to a file the user changed since the agent last
saw it. "Saw" means read or wrote: `seen` maps path → the version (content hash) the agent
last had; an existing file the agent never saw counts as the user's.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import requests

from workspaces.fs import Workspace, WorkspaceError, WorkspaceNotFound, version_of


REJECTED = "The user rejected this action"
MODEL_OUTPUT_LIMIT = 60_000  # characters of one tool result sent back to the model
LIST_LIMIT = 500
SEARCH_LIMIT = 100
EXEC_TIMEOUT_DEFAULT = 120
EXEC_TIMEOUT_MAX = 900
PREVIEW_REDIRECTS = 3  # redirects inside the app's own preview that fetch_preview follows

CONTROL_TOOLS = ("assign", "finish")


@dataclass
class ToolResult:
    ok: bool
    output: str
    seen: dict = field(default_factory=dict)  # path → version (None: the file is gone)
    changed: list = field(default_factory=list)  # [(path, action)] for FILE_CHANGED


# ---------------------------------------------------------------------- schemas


def _fn(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


_PATH = {"type": "string", "description": "Path relative to the app's workspace root, e.g. 'app/page.tsx'."}

SCHEMAS = {
    "list_files": _fn("list_files", "List the files under a folder of the workspace (recursively; node_modules and "
                      ".git are skipped).", {"path": {**_PATH, "description": "Folder; '' for the root."}}, []),
    "read_file": _fn("read_file", "Read a text file of the workspace.", {"path": _PATH}, ["path"]),
    "write_file": _fn("write_file", "Create or overwrite a file with the full new content. Read an existing file "
                      "first: overwriting a file you have not read asks the user.",
                      {"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
    "edit_file": _fn("edit_file", "Replace one exact occurrence of old_text with new_text in a file you have read.",
                     {"path": _PATH, "old_text": {"type": "string"}, "new_text": {"type": "string"}},
                     ["path", "old_text", "new_text"]),
    "delete_file": _fn("delete_file", "Delete a file or folder (asks the user first).", {"path": _PATH}, ["path"]),
    "search": _fn("search", "Search the workspace's text files for a regular expression (like grep -n).",
                  {"pattern": {"type": "string"}, "path": {**_PATH, "description": "Folder to search; '' for all."}},
                  ["pattern"]),
    "run_command": _fn("run_command", "Run a shell command in the app's dev container, in /workspace (asks the "
                       "user first). Returns the exit code, stdout and stderr.",
                       {"command": {"type": "string"}, "cwd": {**_PATH, "description": "Folder to run in; '' = root."},
                        "timeout": {"type": "integer", "description": "Seconds (default 120)."}}, ["command"]),
    "start_dev_server": _fn("start_dev_server", "Start (or restart) the app's dev server in its dev container.", {}, []),
    "dev_status": _fn("dev_status", "MGX's health check of the dev server: its phase and whether the app in it is "
                      "ok or broken (a compile error, a crashed backend, a page that throws), with the error's first "
                      "lines. The check Fix it reports from; ok again means the error is gone.", {}, []),
    "fetch_preview": _fn("fetch_preview", "Fetch a page of the running dev preview; returns the HTTP status and body.",
                         {"path": {"type": "string", "description": "URL path inside the app, e.g. '/' or '/api/health'."}},
                         []),
    "read_logs": _fn("read_logs", "Read the app's recent errors: failing spans and warning/error logs it sent "
                     "over OpenTelemetry, then the dev server's console output.", {}, []),
    "read_traces": _fn("read_traces", "Read the app's recent traces (last hour), failing ones first with their "
                       "spans, errors and logs.", {}, []),
    "ask_user": _fn("ask_user", "Ask the user a question and wait for the answer.",
                    {"question": {"type": "string"}}, ["question"]),
    "assign": _fn("assign", "Hand a task to a team member. They work on it and report back to you.",
                  {"role": {"type": "string", "enum": ["product_manager", "architect", "engineer", "qa"]},
                   "task": {"type": "string", "description": "What to do, with everything they need to know."}},
                  ["role", "task"]),
    "finish": _fn("finish", "End your turn: the user's request is done. The summary is shown to the user.",
                  {"summary": {"type": "string"}}, ["summary"]),
}

_READ = ["list_files", "read_file", "search"]
_WRITE = ["write_file", "edit_file"]
_RUN = ["run_command", "start_dev_server", "dev_status", "fetch_preview", "read_logs", "read_traces"]
ROLE_TOOLS = {
    "team_leader": ["assign", "finish", "ask_user", *_READ],
    "product_manager": [*_READ, *_WRITE, "ask_user"],
    "architect": [*_READ, *_WRITE],
    "engineer": [*_READ, *_WRITE, "delete_file", *_RUN],
    "qa": [*_READ, *_WRITE, *_RUN],
}


def schemas_for(role: str) -> list[dict]:
    return [SCHEMAS[name] for name in ROLE_TOOLS[role]]


# ---------------------------------------------------------------------- approval


def approval_needed(ws: Workspace, name: str, args: dict, seen: dict) -> tuple[str, str] | None:
    """(kind, reason) when this call must wait for the user, else None."""
    if name == "ask_user":
        return "question", str(args.get("question") or "")
    if name == "run_command":
        return "approval", f"Run `{args.get('command', '')}` in the app's dev container"
    if name == "delete_file":
        return "approval", f"Delete {args.get('path', '')}"
    if name in ("write_file", "edit_file"):
        try:
            current = ws.current_version(str(args.get("path", "")))
        except WorkspaceError:
            return None  # the tool itself refuses the path
        if current is None:
            return None
        known = seen.get(ws.clean(str(args.get("path", ""))))
        if known is None:
            return "approval", f"Overwrite {ws.clean(args['path'])}, which the agent has not read"
        if known != current:
            return "approval", f"Overwrite {ws.clean(args['path'])}, which the user changed since the agent read it"
    return None


# ---------------------------------------------------------------------- execution


class Tools:
    """The tools of one run, bound to its workspace and the internal API."""

    def __init__(self, ws: Workspace, *, api_url: str = "", api_token: str = ""):
        self.ws = ws
        self.api_url = (api_url or "").rstrip("/")
        self.api_token = api_token

    def run(self, name: str, args: dict) -> ToolResult:
        handler = getattr(self, f"t_{name}", None)
        if handler is None or name in CONTROL_TOOLS:
            return ToolResult(False, f"There is no tool named {name!r}.")
        if not isinstance(args, dict):
            return ToolResult(False, "Tool arguments must be a JSON object.")
        try:
            return handler(**args)
        except TypeError as exc:
            return ToolResult(False, f"Bad arguments for {name}: {exc}")
        except WorkspaceError as exc:
            return ToolResult(False, str(exc))
        except requests.RequestException as exc:
            return ToolResult(False, f"MGX could not be reached: {exc}")

    # files ---------------------------------------------------------------

    def t_list_files(self, path: str = "") -> ToolResult:
        root = self.ws.clean(path)
        if not self.ws.exists(root):
            raise WorkspaceNotFound(f"No folder '{root or '/'}' in the workspace.")
        files = sorted(f for f in self.ws.walk_files() if not root or f == root or f.startswith(root + "/"))
        files = [f for f in files if not PurePosixPath(f).name.startswith(".mgx-")]
        more = len(files) - LIST_LIMIT
        text = "\n".join(files[:LIST_LIMIT]) + (f"\n… and {more} more" if more > 0 else "")
        return ToolResult(True, text or "(no files)")

    def t_read_file(self, path: str) -> ToolResult:
        content = self.ws.read(path)
        if content.binary:
            return ToolResult(False, f"'{content.path}' is a binary file ({content.size} bytes).",
                              seen={content.path: content.version})
        return ToolResult(True, content.text, seen={content.path: content.version})

    def _write(self, path: str, data: bytes) -> ToolResult:
        clean = self.ws.clean(path)
        existed = self.ws.current_version(clean) is not None
        written = self.ws.write(clean, data)
        action = "edited" if existed else "created"
        return ToolResult(True, f"{'Edited' if existed else 'Created'} {clean} ({written.size} bytes).",
                          seen={clean: written.version}, changed=[(clean, action)])

    def t_write_file(self, path: str, content: str) -> ToolResult:
        return self._write(path, str(content).encode("utf-8"))

    def t_edit_file(self, path: str, old_text: str, new_text: str) -> ToolResult:
        current = self.ws.read(path)
        if current.binary:
            return ToolResult(False, f"'{current.path}' is a binary file.")
        count = current.text.count(old_text) if old_text else 0
        if count != 1:
            return ToolResult(False, f"old_text occurs {count} times in {current.path}; it must occur exactly once. "
                                     "Read the file and quote a unique passage exactly.",
                              seen={current.path: current.version})
        return self._write(current.path, current.text.replace(old_text, new_text, 1).encode("utf-8"))

    def t_delete_file(self, path: str) -> ToolResult:
        gone = self.ws.delete(path)
        return ToolResult(True, f"Deleted {gone}.", seen={gone: None}, changed=[(gone, "deleted")])

    def t_search(self, pattern: str, path: str = "") -> ToolResult:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            return ToolResult(False, f"Bad regular expression: {exc}")
        root = self.ws.clean(path)
        self.ws.resolve(root)
        hits = []
        for rel in sorted(self.ws.walk_files()):
            if root and not (rel == root or rel.startswith(root + "/")):
                continue
            try:
                data = self.ws.read_bytes(rel)  # by descriptor: a link swapped in meanwhile is not followed out
            except WorkspaceError:
                continue
            if b"\0" in data[:8192]:
                continue
            for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if rx.search(line):
                    hits.append(f"{rel}:{n}: {line[:300]}")
                    if len(hits) >= SEARCH_LIMIT:
                        return ToolResult(True, "\n".join(hits) + f"\n… stopped at {SEARCH_LIMIT} matches")
        return ToolResult(True, "\n".join(hits) or "No matches.")

    # the app's dev container, through MGX ----------------------------------

    def _api(self, method: str, path: str, *, json_body: dict | None = None, params: dict | None = None,
             timeout: float = 30) -> tuple[bool, dict | str]:
        if not self.api_url:
            return False, "MGX's internal agent API is not configured (MGX_AGENT_API_URL); commands cannot run."
        response = requests.request(method, self.api_url + path, json=json_body, params=params, timeout=timeout,
                                    headers={"Authorization": f"Bearer {self.api_token}"})
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:2000]}
        if response.status_code >= 400:
            detail = data.get("error") or data.get("message") or data.get("detail") if isinstance(data, dict) else data
            return False, f"MGX answered {response.status_code}: {detail or response.reason}"
        return True, data

    def _tree_state(self) -> dict[str, dict]:
        """path → {"version", "untracked"} of every file git sees as changed, untracked or deleted
        (ignored files, such as node_modules, are not looked at), as MGX reads it on the host."""
        ok, data = self._api("GET", "/changes")
        if not ok or not isinstance(data, dict):
            return {}
        return {f["path"]: f for f in data.get("files") or [] if isinstance(f, dict) and "path" in f}

    def _changes_since(self, before: dict[str, dict]) -> tuple[list, dict]:
        after = self._tree_state()
        changed, seen = [], {}
        for path, now in sorted(after.items()):
            version = now.get("version")
            if path in before and before[path].get("version") == version:
                continue
            if version is None:
                changed.append((path, "deleted"))
            else:
                was_there = (before[path].get("version") is not None) if path in before else not now.get("untracked")
                changed.append((path, "edited" if was_there else "created"))
            seen[path] = version
        for path, was in before.items():
            if path not in after and was.get("version") is not None:
                changed.append((path, "edited"))  # back to its committed content
                seen[path] = self.ws.current_version(path)
        return changed, seen

    def t_run_command(self, command: str, cwd: str = "", timeout: int | None = None) -> ToolResult:
        timeout = max(1, min(int(timeout or EXEC_TIMEOUT_DEFAULT), EXEC_TIMEOUT_MAX))
        before = self._tree_state()
        ok, data = self._api("POST", "/exec", json_body={"command": command, "cwd": self.ws.clean(cwd or ""),
                                                         "timeout": timeout}, timeout=timeout + 30)
        if not ok:
            return ToolResult(False, data)
        # Files the command changed show in the chat's file tree, and count as the agent's own
        # (editing package.json after `npm install x` must not ask the user).
        changed, seen = self._changes_since(before)
        text = f"exit code {data.get('exit_code')}" + (" (timed out)" if data.get("timed_out") else "")
        if data.get("stdout"):
            text += f"\n--- stdout ---\n{data['stdout']}"
        if data.get("stderr"):
            text += f"\n--- stderr ---\n{data['stderr']}"
        return ToolResult(data.get("exit_code") == 0 and not data.get("timed_out"), text, seen=seen, changed=changed)

    def t_start_dev_server(self) -> ToolResult:
        ok, data = self._api("POST", "/dev/start", timeout=600)
        if not ok:
            return ToolResult(False, data)
        phase = str(data.get("phase", ""))
        return ToolResult(phase not in ("failed", "error", "stopped"), f"{phase}: {data.get('message', '')}".strip())

    def t_fetch_preview(self, path: str = "/") -> ToolResult:
        path = "/" + str(path or "/").lstrip("/")
        prefix = f"/apps/{self.ws.root.name}/dev"
        hops = []
        for _ in range(PREVIEW_REDIRECTS + 1):
            ok, data = self._api("GET", "/preview", params={"path": path}, timeout=60)
            if not ok:
                return ToolResult(False, data)
            status = int(data.get("status") or 0)
            # MGX never follows a redirect; one that stays inside this app (a relative Location
            # under its own prefix, such as a trailing-slash fix) is asked for again, here.
            target = urlsplit(str(data.get("location") or ""))
            if not (300 <= status < 400) or target.scheme or target.netloc or not (
                    target.path == prefix or target.path.startswith(prefix + "/")):
                break
            hops.append(f"HTTP {status} → {target.path}")
            path = target.path[len(prefix):] + (f"?{target.query}" if target.query else "")
        after = f" (after {', '.join(hops)})" if hops else ""
        text = f"HTTP {status}{after}\n{data.get('body', '')}"
        return ToolResult(0 < status < 400, text)

    def t_dev_status(self) -> ToolResult:
        ok, data = self._api("GET", "/dev", timeout=30)
        if not ok:
            return ToolResult(False, data)
        phase, health = str(data.get("phase", "")), str(data.get("health", ""))
        said = f"dev server: {phase}" + (f"; the app: {health}" if health else "")
        if health == "error":
            said += f"\n{data.get('error', '')}"
        return ToolResult(phase == "ready" and health != "error", said)

    def t_read_logs(self) -> ToolResult:
        ok, data = self._api("GET", "/logs", timeout=30)
        if not ok:
            return ToolResult(False, data)
        telemetry = data.get("telemetry") or ""
        console = data.get("text") or "(no log lines)"
        return ToolResult(True, f"{telemetry}\n\nDev server console:\n{console}" if telemetry else console)

    def t_read_traces(self) -> ToolResult:
        ok, data = self._api("GET", "/traces", timeout=30)
        if not ok:
            return ToolResult(False, data)
        return ToolResult(True, data.get("text") or "(no traces)")


def call_signature(name: str, args: dict) -> str:
    return json.dumps([name, args], sort_keys=True, default=str)


__all__ = ["Tools", "ToolResult", "approval_needed", "schemas_for", "ROLE_TOOLS", "REJECTED", "version_of"]
