"""A local server speaking GitHub's REST shapes for repos and commits, with scripted faults.

Serves `GET /repos/{owner}/{repo}` and `GET /repos/{owner}/{repo}/commits` (committer-date
`since`/`until`, `per_page`/`page` with `Link` headers), the community routes of
`github_stub_community` (issues, pulls, timelines, org members), rate-limit headers on every
reply (a 304 costs none), an ETag on every 200 (`If-None-Match` -> 304), 404 for gone repos,
301 for renamed ones (to the new name, or to `/repositories/{id}` as api.github.com does), and a
queue of faults for the next requests.
Run in a thread (`GitHubStub().start()`) or as
`python -m metrics_pipeline_tests.support.github_stub --port P --data repos.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from metrics_pipeline.demo.local_servers.process import ServerProcess, free_port, start_server
from metrics_pipeline_tests.support.github_stub_community import CommunityScripting, route_org, route_repo

# Fault kinds for `fail_next`: what the next request gets instead of its answer.
FAULTS = ("primary", "secondary403", "secondary429", "502", "503")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass
class StubCommit:
    sha: str
    author_date: datetime  # aware
    committer_date: datetime  # aware; GitHub's since/until filter on this
    message: str = "change"
    author_id: int | None = 1


@dataclass
class StubRepo:
    full_name: str
    commits: list[StubCommit] = field(default_factory=list)
    gone: bool = False
    moved_to: str | None = None
    moved_via_id: bool = False  # 301 to /repositories/{id} instead of /repos/{new}
    items: dict = field(default_factory=dict)  # number -> github_stub_community.StubItem


class GitHubStub(CommunityScripting):
    """In-memory repos behind a ThreadingHTTPServer on 127.0.0.1; `requests` records each path served,
    `statuses` each (path, status) answered, `rate_used` the requests that counted against the limit."""

    def __init__(self, token: str | None = None, retry_after: int = 1, reset_in: int = 1):
        self.token, self.retry_after, self.reset_in = token, retry_after, reset_in
        self.repos: dict[str, StubRepo] = {}
        self.requests: list[str] = []
        self.statuses: list[tuple[str, int]] = []
        self.members: dict[str, list[str]] = {}  # lower(org) -> public member logins
        self.rate_used = 0
        self._faults: deque[str] = deque()
        self._path_faults: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------------
    def add_commit(self, repo: str, sha: str, author_date: str, committer_date: str | None = None, **extra) -> None:
        stub = self.repos.setdefault(repo.lower(), StubRepo(repo))
        stub.commits.append(StubCommit(sha, _parse(author_date), _parse(committer_date or author_date), **extra))

    def add_repo(self, repo: str) -> StubRepo:
        return self.repos.setdefault(repo.lower(), StubRepo(repo))

    def rename(self, old: str, new: str, via_id: bool = False) -> None:
        """`old` answers 301 to `new` (`via_id`: to `/repositories/{id}`), which keeps the commits."""
        stub = self.repos.pop(old.lower(), StubRepo(old))
        self.repos[new.lower()] = StubRepo(new, stub.commits, items=stub.items)
        self.repos[old.lower()] = StubRepo(old, moved_to=new, moved_via_id=via_id)

    def remove(self, repo: str) -> None:
        self.repos[repo.lower()] = StubRepo(repo, gone=True)

    def fail_next(self, kind: str, times: int = 1, path: str | None = None) -> None:
        """The next `times` requests (only those whose path contains `path`, if given) get `kind`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            if path is None:
                self._faults.extend([kind] * times)
            else:
                self._path_faults.extend([(path, kind)] * times)

    # --- serving ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> "GitHubStub":
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def next_fault(self, path: str = "") -> str | None:
        with self._lock:
            for index, (part, kind) in enumerate(self._path_faults):
                if part in path:
                    del self._path_faults[index]
                    return kind
            return self._faults.popleft() if self._faults else None

    def load(self, data: dict) -> None:
        """`{"repos": {"owner/name": {"commits": [{sha, author_date, committer_date?, message?,
        author_id?}], "issues": [{number, author, created, pr?, events: [{kind, login, at}]}],
        "gone": bool, "moved_to": "owner/new"}}, "orgs": {"org": ["login", ...]}}`."""
        for name, spec in data.get("repos", {}).items():
            self.add_repo(name)
            for commit in spec.get("commits", []):
                self.add_commit(name, **commit)
            for issue in spec.get("issues", []):
                events = issue.pop("events", [])
                self.add_issue(name, **issue)
                for event in events:
                    self.event(name, issue["number"], **event)
            if spec.get("moved_to"):
                self.rename(name, spec["moved_to"])
            if spec.get("gone"):
                self.remove(name)
        for org, logins in data.get("orgs", {}).items():
            self.set_members(org, logins)


def _handler_for(stub: GitHubStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet; `stub.requests` records what was served
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            url = urlparse(self.path)
            with stub._lock:
                stub.requests.append(self.path)
            if stub.token and self.headers.get("Authorization", "") not in (f"token {stub.token}", f"Bearer {stub.token}"):
                return self._reply(401, {"message": "Bad credentials"})
            fault = stub.next_fault(self.path)
            if fault:
                return self._fault(fault)
            parts = url.path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "repositories":
                by_id = {repo_id(r.full_name): r.full_name for r in stub.repos.values() if not (r.gone or r.moved_to)}
                if parts[1] not in by_id:
                    return self._reply(404, {"message": "Not Found"})
                parts = ["repos", *by_id[parts[1]].split("/"), *parts[2:]]
            if len(parts) == 3 and parts[0] == "orgs" and parts[2] == "public_members":
                return self._reply(*route_org(stub.base_url, stub.members, parts[1], parse_qs(url.query), url.path))
            if len(parts) < 3 or parts[0] != "repos":
                return self._reply(404, {"message": "Not Found"})
            repo = stub.repos.get(f"{parts[1]}/{parts[2]}".lower())
            if repo is None or repo.gone:
                return self._reply(404, {"message": "Not Found"})
            if repo.moved_to:
                rest = "/".join(parts[3:])
                target = f"repositories/{repo_id(repo.moved_to)}" if repo.moved_via_id else f"repos/{repo.moved_to}"
                location = f"{stub.base_url}/{target}" + (f"/{rest}" if rest else "")
                location += f"?{url.query}" if url.query else ""
                return self._reply(301, {"message": "Moved Permanently", "url": location}, {"Location": location})
            if len(parts) == 3:
                return self._reply(200, _repo_json(stub.base_url, repo))
            if len(parts) == 4 and parts[3] == "commits":
                return self._commits(repo, parse_qs(url.query))
            routed = route_repo(stub.base_url, repo, parts[3:], parse_qs(url.query), url.path)
            if routed is not None:
                return self._reply(*routed)
            return self._reply(404, {"message": "Not Found"})

        def _commits(self, repo: StubRepo, query: dict) -> None:
            since = _parse(query["since"][0]) if "since" in query else None
            until = _parse(query["until"][0]) if "until" in query else None
            per_page = min(int(query.get("per_page", ["30"])[0]), 100)
            page = int(query.get("page", ["1"])[0])
            chosen = sorted(
                (c for c in repo.commits if (since is None or c.committer_date >= since) and (until is None or c.committer_date <= until)),
                key=lambda c: (c.committer_date, c.sha),
                reverse=True,
            )
            last = max(1, -(-len(chosen) // per_page))
            body = [_commit_json(stub.base_url, repo, c) for c in chosen[(page - 1) * per_page : page * per_page]]
            links = []
            base = f"{stub.base_url}/repos/{repo.full_name}/commits"
            params = {k: v[0] for k, v in query.items() if k != "page"} | {"per_page": str(per_page)}
            if page < last:
                links.append(f'<{base}?{urlencode(params | {"page": page + 1})}>; rel="next"')
                links.append(f'<{base}?{urlencode(params | {"page": last})}>; rel="last"')
            self._reply(200, body, {"Link": ", ".join(links)} if links else {})

        def _fault(self, kind: str) -> None:
            if kind == "primary":
                reset = int(time.time()) + stub.reset_in
                return self._reply(
                    403,
                    {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest"},
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                )
            if kind in ("secondary403", "secondary429"):
                return self._reply(
                    403 if kind == "secondary403" else 429,
                    {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
                    {"Retry-After": str(stub.retry_after)},
                )
            self._reply(int(kind), {"message": "Server Error"})

        def _reply(self, status: int, body, headers: dict | None = None) -> None:
            payload = json.dumps(body).encode()
            etag = f'W/"{hashlib.sha1(payload).hexdigest()}"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, payload = 304, b""  # GitHub: a conditional hit costs no rate limit
            with stub._lock:
                stub.statuses.append((self.path, status))
                stub.rate_used += status != 304
                remaining = max(0, 5000 - stub.rate_used)
            headers = {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 3600),
                **({"ETag": etag} if status in (200, 304) else {}),
                **(headers or {}),
            }
            self.send_response(status)
            if status != 304:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def repo_id(full_name: str) -> str:
    """The repo's numeric id as its `/repositories/{id}` path segment (stable per full name)."""
    return str(zlib.crc32(full_name.lower().encode()))


def _repo_json(base: str, repo: StubRepo) -> dict:
    owner, name = repo.full_name.split("/", 1)
    return {
        "id": int(repo_id(repo.full_name)),
        "name": name,
        "full_name": repo.full_name,
        "owner": {"login": owner, "id": 1, "type": "Organization"},
        "private": False,
        "html_url": f"https://github.com/{repo.full_name}",
        "url": f"{base}/repos/{repo.full_name}",
        "commits_url": f"{base}/repos/{repo.full_name}/commits{{/sha}}",
        "default_branch": "main",
    }


def _commit_json(base: str, repo: StubRepo, commit: StubCommit) -> dict:
    person = {"name": "Dev", "email": "dev@example.org"}
    return {
        "sha": commit.sha,
        "node_id": f"C_{commit.sha}",
        "url": f"{base}/repos/{repo.full_name}/commits/{commit.sha}",
        "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
        "commit": {
            "author": person | {"date": _iso(commit.author_date)},
            "committer": person | {"date": _iso(commit.committer_date)},
            "message": commit.message,
            "url": f"{base}/repos/{repo.full_name}/git/commits/{commit.sha}",
        },
        "author": None if commit.author_id is None else {"login": f"user{commit.author_id}", "id": commit.author_id},
        "committer": None,
        "parents": [],
    }


def start_github_stub(data_path: Path, log_path: Path, port: int | None = None) -> ServerProcess:
    """The stub as its own process (for the demo), serving `data_path`; stop it with `.stop()`."""
    port = port or free_port()
    command = [sys.executable, "-m", "metrics_pipeline_tests.support.github_stub", "--port", str(port), "--data", str(data_path)]
    return start_server(command, port, log_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", help="JSON file with repos and commits (see GitHubStub.load)")
    parser.add_argument("--token", help="require this token (default: accept any)")
    args = parser.parse_args()
    stub = GitHubStub(token=args.token)
    if args.data:
        with open(args.data, encoding="utf-8") as handle:
            stub.load(json.load(handle))
    stub.start(args.port)
    try:
        stub._thread.join()
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
