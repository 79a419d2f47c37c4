"""Issues, pull requests, timelines and org members for the GitHub stub (`github_stub.GitHubStub`).

Serves `GET /repos/{o}/{r}/issues` (`state`, `since` on updated_at, `sort`, `direction`),
`/issues/{n}` and `/issues/{n}/timeline` (301 to the new place for a transferred issue),
`/pulls` (`state`, `sort`, `direction`) and `/orgs/{org}/public_members`, each paginated with
`Link` headers; the stub adds ETag/304, rate-limit replies and faults to every route.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlencode

_ids = itertools.count(1000)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _user(login: str | None) -> dict | None:
    return None if login is None else {"login": login, "id": zlib.crc32(login.encode()), "type": "Bot" if login.endswith("[bot]") else "User"}


@dataclass
class StubItem:
    """An issue or pull request; `events` are timeline entries in GitHub's shapes."""

    id: int
    number: int
    author: str
    created_at: datetime
    is_pr: bool = False
    pull_id: int | None = None
    title: str = "item"
    state: str = "open"
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    events: list[dict] = field(default_factory=list)
    moved_to: tuple[str, int] | None = None  # transferred away: (repo full name, number there)


class CommunityScripting:
    """Scripting methods mixed into GitHubStub (which provides `repos`, `add_repo`, `members`)."""

    def add_issue(self, repo: str, number: int, author: str, created: str, pr: bool = False, **extra) -> StubItem:
        at = parse(created)
        item = StubItem(next(_ids), number, author, at, is_pr=pr, pull_id=next(_ids) if pr else None, updated_at=at, **extra)
        self.add_repo(repo).items[number] = item
        return item

    def add_pr(self, repo: str, number: int, author: str, created: str, **extra) -> StubItem:
        return self.add_issue(repo, number, author, created, pr=True, **extra)

    def item(self, repo: str, number: int) -> StubItem:
        return self.repos[repo.lower()].items[number]

    def event(self, repo: str, number: int, kind: str, login: str | None, at: str, **extra) -> dict:
        """Append a timeline entry; closes, reopens and merges change the item's state too."""
        item, when = self.item(repo, number), parse(at)
        if kind in ("commented", "reviewed"):
            entry = {"event": kind, "id": next(_ids), "user": _user(login), "body": "text"}
            entry |= {"submitted_at": iso(when), "state": "commented"} if kind == "reviewed" else {"created_at": iso(when)}
        elif kind == "line-commented":
            entry = {"event": kind, "node_id": f"LC_{next(_ids)}",
                     "comments": [{"id": next(_ids), "user": _user(login), "created_at": iso(when), "body": "nit"}]}
        else:
            entry = {"event": kind, "id": next(_ids), "actor": _user(login), "created_at": iso(when)}
        entry |= extra
        item.events.append(entry)
        item.updated_at = max(item.updated_at or when, when)
        if kind == "closed":
            item.state, item.closed_at = "closed", when
        elif kind == "reopened":
            item.state, item.closed_at = "open", None
        elif kind == "merged":
            item.merged_at = when
            self.event(repo, number, "closed", login, at)
        return entry

    def comment(self, repo: str, number: int, login: str, at: str) -> dict:
        return self.event(repo, number, "commented", login, at)

    def transfer(self, repo: str, number: int, to_repo: str, to_number: int, login: str, at: str) -> StubItem:
        """Move an issue to `to_repo` as `to_number`; it keeps its id, the old address answers 301."""
        old = self.item(repo, number)
        moved = StubItem(old.id, to_number, old.author, old.created_at, title=old.title, state=old.state,
                         updated_at=old.updated_at, closed_at=old.closed_at, events=list(old.events))
        self.add_repo(to_repo).items[to_number] = moved
        self.event(to_repo, to_number, "transferred", login, at)
        old.moved_to = (self.repos[to_repo.lower()].full_name, to_number)
        return moved

    def set_members(self, org: str, logins: list[str]) -> None:
        self.members[org.lower()] = list(logins)


def issue_json(base: str, full_name: str, item: StubItem) -> dict:
    url = f"{base}/repos/{full_name}/issues/{item.number}"
    body = {
        "id": item.id, "node_id": f"I_{item.id}", "number": item.number, "title": item.title,
        "user": _user(item.author), "state": item.state, "locked": False, "comments": 0,
        "created_at": iso(item.created_at), "updated_at": iso(item.updated_at), "closed_at": iso(item.closed_at),
        "url": url, "repository_url": f"{base}/repos/{full_name}",
        "html_url": f"https://github.com/{full_name}/{'pull' if item.is_pr else 'issues'}/{item.number}",
        "labels": [], "author_association": "NONE",
    }
    if item.is_pr:
        body["pull_request"] = {"url": f"{base}/repos/{full_name}/pulls/{item.number}", "merged_at": iso(item.merged_at)}
    return body


def pull_json(base: str, full_name: str, item: StubItem) -> dict:
    return {
        "id": item.pull_id, "node_id": f"PR_{item.pull_id}", "number": item.number, "title": item.title,
        "user": _user(item.author), "state": item.state, "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at), "closed_at": iso(item.closed_at), "merged_at": iso(item.merged_at),
        "url": f"{base}/repos/{full_name}/pulls/{item.number}",
        "html_url": f"https://github.com/{full_name}/pull/{item.number}", "draft": False,
    }


def _ordered(items: list[StubItem], query: dict) -> list[StubItem]:
    key = (lambda i: (i.updated_at, i.number)) if query.get("sort", ["created"])[0] == "updated" else (lambda i: (i.created_at, i.number))
    return sorted(items, key=key, reverse=query.get("direction", ["desc"])[0] == "desc")


def _state_filter(items, query: dict) -> list[StubItem]:
    state = query.get("state", ["open"])[0]
    return [i for i in items if state == "all" or i.state == state]


def paginate(base: str, path: str, query: dict, rows: list) -> tuple[list, dict]:
    """One page of `rows` and its `Link` header, as GitHub pages lists."""
    per_page = min(int(query.get("per_page", ["30"])[0]), 100)
    page = int(query.get("page", ["1"])[0])
    last = max(1, -(-len(rows) // per_page))
    params = {k: v[0] for k, v in query.items() if k != "page"} | {"per_page": str(per_page)}
    links = []
    if page < last:
        links.append(f'<{base}{path}?{urlencode(params | {"page": page + 1})}>; rel="next"')
        links.append(f'<{base}{path}?{urlencode(params | {"page": last})}>; rel="last"')
    return rows[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})


def route_repo(base: str, repo, rest: list[str], query: dict, path: str):
    """(status, body, headers) for /repos/{o}/{r}/<rest>, or None when it is not a community route."""
    if rest == ["issues"]:
        since = parse(query["since"][0]) if "since" in query else None
        chosen = [i for i in repo.items.values() if i.moved_to is None and (since is None or i.updated_at >= since)]
        rows = [issue_json(base, repo.full_name, i) for i in _ordered(_state_filter(chosen, query), query)]
        return 200, *paginate(base, path, query, rows)
    if rest == ["pulls"]:
        chosen = [i for i in repo.items.values() if i.is_pr and i.moved_to is None]
        rows = [pull_json(base, repo.full_name, i) for i in _ordered(_state_filter(chosen, query), query)]
        return 200, *paginate(base, path, query, rows)
    if len(rest) in (2, 3) and rest[0] == "issues" and rest[1].isdigit() and rest[2:] in ([], ["timeline"]):
        item = repo.items.get(int(rest[1]))
        if item is None:
            return 404, {"message": "Not Found"}, {}
        if item.moved_to:
            location = f"{base}/repos/{item.moved_to[0]}/issues/{item.moved_to[1]}" + ("/timeline" if rest[2:] else "")
            return 301, {"message": "Moved Permanently", "url": location}, {"Location": location}
        if not rest[2:]:
            return 200, issue_json(base, repo.full_name, item), {}
        return 200, *paginate(base, path, query, item.events)
    return None


def route_org(base: str, members: dict, org: str, query: dict, path: str):
    if org.lower() not in members:
        return 404, {"message": "Not Found"}, {}
    rows = [_user(login) for login in sorted(members[org.lower()])]
    return 200, *paginate(base, path, query, rows)
