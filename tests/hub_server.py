"""A small Hugging Face Hub-protocol server on 127.0.0.1 for push/download tests.

It speaks the parts of the protocol the real ``huggingface_hub`` client uses to create a repo, upload a folder
(preupload, LFS batch + basic transfer, NDJSON commit) and download files (HEAD/GET ``resolve`` with the commit,
ETag and size headers, ``model_info``, ``tree``). Tokens: ``hf_write`` may write, ``hf_read`` only read; no token
is a 401. ``fail_lfs_uploads = True`` makes every LFS upload fail, as an interrupted transfer would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

WRITE_TOKEN, READ_TOKEN = "hf_write", "hf_read"


class HubState:
    def __init__(self):
        self.repos: dict[str, dict] = {}  # "model:org/name" -> {"files": {path: (bytes, lfs_oid|None)}, "sha", ...}
        self.lfs: dict[str, bytes] = {}
        self.fail_lfs_uploads = False
        self.requests: list[str] = []
        self.lock = threading.Lock()


def _key(repo_type: str, repo_id: str) -> str:
    return f"{repo_type}:{repo_id}"


class HubHandler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    # ------------------------------------------------------------------ helpers
    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def token(self) -> str | None:
        header = self.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None,
             head: bool = False):
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        if raw is None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def error(self, status: int, message: str, code: str | None = None, head: bool = False):
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self.send(status, {"error": message}, headers, head=head)

    def can_write(self) -> bool:
        token = self.token()
        if token is None:
            self.error(401, "Invalid credentials in Authorization header")
            return False
        if token != WRITE_TOKEN:
            self.error(403, "You don't have the rights to create or write to this repo")
            return False
        return True

    def repo(self, repo_type: str, repo_id: str) -> dict | None:
        return self.state.repos.get(_key(repo_type, repo_id))

    # ------------------------------------------------------------------ routes
    def do_POST(self):
        path = unquote(urlparse(self.path).path)
        self.state.requests.append(f"POST {path}")
        if path == "/api/repos/create":
            if not self.can_write():
                return
            payload = json.loads(self.body())
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            repo_type = payload.get("type") or "model"
            key = _key(repo_type, repo_id)
            url = f"{self.endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
            if key in self.state.repos:
                return self.send(409, {"error": "You already created this repo", "url": url})
            self.state.repos[key] = {"files": {}, "sha": "0" * 40, "private": bool(payload.get("private"))}
            return self.send(200, {"url": url, "name": repo_id, "id": repo_id})
        if path == "/api/validate-yaml":  # the card's metadata block must be valid YAML
            import yaml

            content = json.loads(self.body())["content"]
            try:
                yaml.safe_load(content.split("---")[1] if content.startswith("---") else "{}")
            except yaml.YAMLError as err:
                return self.error(400, f"invalid YAML in README.md: {err}")
            return self.send(200, {"errors": [], "warnings": []})
        match = re.fullmatch(r"/api/(model|dataset)s/(.+)/preupload/([^/]+)", path)
        if match:
            if not self.can_write():
                return
            files = json.loads(self.body())["files"]
            return self.send(200, {"files": [{"path": f["path"], "uploadMode": "lfs" if f["size"] > 1024 or
                                              f["path"].endswith((".safetensors", ".png")) else "regular",
                                              "shouldIgnore": False, "oid": None} for f in files]})
        match = re.fullmatch(r"/(datasets/)?(.+)\.git/info/lfs/objects/batch", path)
        if match:
            if not self.can_write():
                return
            objects = []
            for obj in json.loads(self.body())["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in self.state.lfs:
                    entry["actions"] = {"upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}"}}
                objects.append(entry)
            return self.send(200, {"transfer": "basic", "objects": objects})
        match = re.fullmatch(r"/api/(model|dataset)s/(.+)/commit/([^/]+)", path)
        if match:
            if not self.can_write():
                return
            repo = self.repo(match.group(1), match.group(2))
            if repo is None:
                return self.error(404, "Repository not found", "RepoNotFound")
            new_files = dict(repo["files"])
            summary = ""
            for line in self.body().splitlines():
                item = json.loads(line)
                if item["key"] == "header":
                    summary = item["value"].get("summary", "")
                elif item["key"] == "file":
                    new_files[item["value"]["path"]] = (base64.b64decode(item["value"]["content"]), None)
                elif item["key"] == "lfsFile":
                    oid = item["value"]["oid"]
                    if oid not in self.state.lfs:
                        return self.error(400, f"LFS object {oid} was never uploaded")
                    new_files[item["value"]["path"]] = (self.state.lfs[oid], oid)
                elif item["key"] == "deletedFile":
                    new_files.pop(item["value"]["path"], None)
            digest = hashlib.sha1((repo["sha"] + summary + json.dumps(sorted(new_files))).encode()).hexdigest()
            repo["files"], repo["sha"] = new_files, digest
            url = f"{self.endpoint}/{match.group(2)}/commit/{digest}"
            return self.send(200, {"commitUrl": url, "commitOid": digest, "pullRequestUrl": None})
        self.error(404, f"unknown POST route {path}")

    def do_PUT(self):
        path = unquote(urlparse(self.path).path)
        self.state.requests.append(f"PUT {path}")
        match = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
        if not match:
            return self.error(404, f"unknown PUT route {path}")
        data = self.body()
        if self.state.fail_lfs_uploads:
            return self.error(400, "upload interrupted: the connection to the storage backend was lost")
        if hashlib.sha256(data).hexdigest() != match.group(1):
            return self.error(400, "sha256 mismatch")
        self.state.lfs[match.group(1)] = data
        self.send(200, {})

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head: bool = False):
        path = unquote(urlparse(self.path).path)
        self.state.requests.append(f"{'HEAD' if head else 'GET'} {path}")
        match = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            repo = self.repo("dataset" if match.group(1) else "model", match.group(2))
            if repo is None:
                return self.error(404, "Repository not found", "RepoNotFound", head)
            if match.group(3) not in ("main", repo["sha"]):
                return self.error(404, "Revision not found", "RevisionNotFound", head)
            entry = repo["files"].get(match.group(4))
            if entry is None:
                return self.error(404, "Entry not found", "EntryNotFound", head)
            data, oid = entry
            headers = {"X-Repo-Commit": repo["sha"], "Accept-Ranges": "bytes"}
            if oid:
                headers.update({"X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(len(data)), "ETag": f'"{oid}"'})
            else:
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                headers["ETag"] = f'"{blob}"'
            return self.send(200, raw=data, headers=headers, head=head)
        match = re.fullmatch(r"/api/(model|dataset)s/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if match:
            repo = self.repo(match.group(1), match.group(2))
            if repo is None:
                return self.error(404, "Repository not found", "RepoNotFound", head)
            siblings = [{"rfilename": p, "size": len(d)} for p, (d, _) in sorted(repo["files"].items())]
            return self.send(200, {"id": match.group(2), "modelId": match.group(2), "sha": repo["sha"],
                                   "private": repo["private"], "siblings": siblings, "tags": []}, head=head)
        match = re.fullmatch(r"/api/(model|dataset)s/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
        if match:
            repo = self.repo(match.group(1), match.group(2))
            if repo is None:
                return self.error(404, "Repository not found", "RepoNotFound", head)
            prefix = (match.group(4) or "").strip("/")
            entries = [{"type": "file", "path": p, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                       for p, (d, _) in sorted(repo["files"].items()) if not prefix or p.startswith(prefix + "/")]
            if prefix and not entries:
                return self.error(404, f"{prefix} does not exist", "EntryNotFound", head)
            return self.send(200, entries, head=head)
        self.error(404, f"unknown GET route {path}", head=head)


def start_hub_server() -> tuple[ThreadingHTTPServer, HubState, str]:
    state = HubState()
    handler = type("Handler", (HubHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, state, f"http://{host}:{port}"
