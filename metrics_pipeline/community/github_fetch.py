"""One repo's community activity from GitHub's REST API through PyGithub's requester (so the shared
bounded retries handle rate limits): paginated lists, conditional polls, transfers found by 301."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from github import BadCredentialsException, Github, UnknownObjectException

from metrics_pipeline.resources.github import TOKEN_SETTING
from metrics_pipeline.resources.secrets import CredentialError, scrub

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_REPO_URL = re.compile(r"/repos/([^/]+/[^/?]+)")


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class RepoActivity:
    """What one tracked repo's fetch found, or why it found nothing."""

    repo_key: str  # lower(owner/name) as the registry spells it
    full_history: bool
    current_name: str | None = None  # GitHub's owner/name now (after renames)
    issues: list[tuple[str, dict]] = field(default_factory=list)  # (repo_key it lives in, issue JSON)
    pulls: list[dict] = field(default_factory=list)
    timelines: dict[int, list[dict]] = field(default_factory=dict)  # issue id -> its whole timeline
    polls: dict[str, str] = field(default_factory=dict)  # request -> new ETag
    transfers: list[dict] = field(default_factory=list)
    not_modified: int = 0  # conditional requests answered 304
    gone: bool = False
    error: str | None = None


class CommunityFetcher:
    """Reads through `gh.requester`; `etags` are the stored ETags by request; `names` (set by
    `fetch_all`) maps GitHub's lower(owner/name) of each tracked repo to its registry key."""

    def __init__(self, gh: Github, per_page: int, etags: dict[str, str], secrets: list[str]):
        self.requester, self.per_page, self.etags, self.secrets = gh.requester, per_page, etags, secrets
        self.names: dict[str, str] = {}

    def get(self, url: str, params: dict | None = None, conditional: bool = False):
        """(request key, headers, JSON); JSON is None when a conditional request got a 304."""
        key = url + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")
        headers = {"If-None-Match": self.etags[key]} if conditional and key in self.etags else None
        response_headers, data = self.requester.requestJsonAndCheck("GET", url, params, headers)
        return key, response_headers, data

    def pages(self, url: str, params: dict, activity: RepoActivity, conditional: bool = False, stop=None) -> list | None:
        """Every page of a list (None: unchanged since the stored ETag). A conditional list keeps
        its ETag only when it fits one page, so a 304 always means the whole list is unchanged."""
        key, headers, data = self.get(url, params | {"per_page": self.per_page}, conditional)
        if data is None:
            activity.not_modified += 1
            return None
        rows, single = list(data), True
        while (found := _NEXT.search(headers.get("link") or "")) and not (stop and rows and stop(rows[-1])):
            single = False
            headers, data = self.requester.requestJsonAndCheck("GET", found.group(1))
            rows.extend(data)
        if conditional and single and headers.get("etag") and self.etags.get(key) != headers["etag"]:
            activity.polls[key] = headers["etag"]
        return rows

    def repo_name(self, repo: str) -> str | None:
        """GitHub's current owner/name (a rename answers 301, which PyGithub follows); None if gone."""
        try:
            return self.get(f"/repos/{repo}")[2]["full_name"]
        except UnknownObjectException:
            return None

    def fetch(self, repo_key: str, current: str, since: datetime | None, known_open: list[int]) -> RepoActivity:
        """Items updated at or after `since` (all when None) with changed timelines; known open
        items not listed are polled conditionally so a transfer (301) is seen."""
        activity = RepoActivity(repo_key, full_history=since is None, current_name=current)
        try:
            window = {} if since is None else {"since": iso(since)}
            listed = self.pages(f"/repos/{current}/issues", {"state": "all", "sort": "updated", "direction": "asc"} | window, activity)
            activity.issues = [(repo_key, issue) for issue in listed]
            too_old = None if since is None else (lambda pull: parse_time(pull["updated_at"]) < since.replace(tzinfo=None))
            pulls = self.pages(f"/repos/{current}/pulls", {"state": "all", "sort": "updated", "direction": "desc"}, activity, stop=too_old)
            activity.pulls = [p for p in pulls if too_old is None or not too_old(p)]
            for issue in listed:
                self._timeline(activity, current, issue)
            seen = {issue["number"] for issue in listed}
            for number in known_open:
                if number not in seen:
                    self._recheck(activity, current, number)
        except UnknownObjectException:
            activity.gone, activity.issues, activity.pulls, activity.timelines = True, [], [], {}
        except BadCredentialsException:
            raise CredentialError(f"GitHub refused the token (401 Bad credentials): check {TOKEN_SETTING}") from None
        except Exception as error:  # one repo's failure must not stop the others; reported by the asset
            activity.error = scrub(f"{type(error).__name__}: {error}", self.secrets)[:500]
        return activity

    def _timeline(self, activity: RepoActivity, repo: str, issue: dict) -> None:
        events = self.pages(f"/repos/{repo}/issues/{issue['number']}/timeline", {}, activity, conditional=True)
        if events is not None:
            activity.timelines[issue["id"]] = events

    def _recheck(self, activity: RepoActivity, current: str, number: int) -> None:
        """A known open item missing from the list: unchanged (304), moved (301 followed), or changed."""
        try:
            key, headers, issue = self.get(f"/repos/{current}/issues/{number}", conditional=True)
        except UnknownObjectException:
            return  # deleted issues answer 404/410; the last state seen is kept
        if issue is None:
            activity.not_modified += 1
            return
        if headers.get("etag"):
            activity.polls[key] = headers["etag"]
        found = _REPO_URL.search(issue.get("repository_url", ""))
        where = found.group(1) if found else current
        if where.lower() != current.lower():
            target = self.names.get(where.lower(), where.lower())
            activity.transfers.append(
                {"issue_id": issue["id"], "from_repo_key": activity.repo_key, "from_number": number,
                 "to_repo_key": target, "to_number": issue["number"]}
            )
            activity.issues.append((target, issue))
        else:
            activity.issues.append((activity.repo_key, issue))
        self._timeline(activity, where, issue)


def _fetch_members(fetcher: CommunityFetcher, org: str) -> tuple[list[dict] | None, RepoActivity]:
    """An org's public members (None: unchanged or failed); a user-owned repo's owner has none (404)."""
    activity = RepoActivity(repo_key=f"org:{org.lower()}", full_history=False)
    try:
        return fetcher.pages(f"/orgs/{org}/public_members", {}, activity, conditional=True), activity
    except UnknownObjectException:
        return [], activity
    except BadCredentialsException:
        raise CredentialError(f"GitHub refused the token (401 Bad credentials): check {TOKEN_SETTING}") from None
    except Exception as error:
        activity.error = scrub(f"{type(error).__name__}: {error}", fetcher.secrets)[:500]
        return None, activity


@dataclass
class FetchRun:
    """Everything one landing fetched: per repo, per org, and GitHub's current repo names."""

    activities: list[RepoActivity]
    members: dict[str, list[dict] | None]  # lower(org) -> public members; None: unchanged or failed
    member_polls: list[RepoActivity]
    names: dict[str, str | None]  # repo key -> GitHub's owner/name now; None: gone

    @property
    def failures(self) -> dict[str, str]:
        return {a.repo_key: a.error for a in [*self.activities, *self.member_polls] if a.error}


def fetch_all(fetcher: CommunityFetcher, repos: list[str], since: datetime, known: set[str], open_items: dict) -> FetchRun:
    """Every tracked repo (those never fetched: their whole history) and the owners' members;
    one repo's failure is recorded on it and does not stop the others."""
    names, activities = {}, []
    for repo in sorted(repos):
        key = repo.lower()
        try:
            names[key] = fetcher.repo_name(repo)
        except BadCredentialsException:
            raise CredentialError(f"GitHub refused the token (401 Bad credentials): check {TOKEN_SETTING}") from None
        except Exception as error:
            names[key] = None
            activities.append(RepoActivity(key, False, error=scrub(f"{type(error).__name__}: {error}", fetcher.secrets)[:500]))
    fetcher.names = {name.lower(): key for key, name in names.items() if name}
    failed = {a.repo_key for a in activities}
    for key, name in names.items():
        if name is None and key not in failed:
            activities.append(RepoActivity(key, full_history=False, gone=True))
        elif name is not None:
            activities.append(fetcher.fetch(key, name, since if key in known else None, open_items.get(key, [])))
    members, polls = {}, []
    for org in sorted({name.split("/")[0] for name in names.values() if name}):
        members[org.lower()], activity = _fetch_members(fetcher, org)
        polls.append(activity)
    return FetchRun(sorted(activities, key=lambda a: a.repo_key), members, polls, names)
