"""GitHub's REST API through PyGithub: one client resource for every domain that reads GitHub,
with bounded waits for rate limits and server errors."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import dagster as dg

from metrics_pipeline.resources.secrets import (
    CredentialError,
    ParameterStoreSecrets,
    parameter_store_from,
    resolve_credential,
    scrub,
)

if TYPE_CHECKING:
    from github import Github

TOKEN_SETTING = "METRICS_GITHUB_TOKEN"
BASE_URL_SETTING = "METRICS_GITHUB_BASE_URL"


class RateLimitWaitTooLong(RuntimeError):
    """GitHub asked for a wait longer than the configured bound."""


@cache
def bounded_retry_class() -> type:
    """PyGithub's retry (primary reset, secondary Retry-After, 5xx backoff) with every wait capped;
    built on first use so loading the definitions does not import PyGithub."""
    from github import GithubRetry

    class BoundedGithubRetry(GithubRetry):
        def get_retry_after(self, response) -> float | None:
            seconds = super().get_retry_after(response)
            if seconds is not None and self.max_rate_limit_wait is not None and seconds > self.max_rate_limit_wait:
                raise RateLimitWaitTooLong(
                    f"GitHub asked to wait {seconds:.0f}s (Retry-After), over the {self.max_rate_limit_wait:.0f}s bound"
                )
            return seconds

    return BoundedGithubRetry


@dataclass
class Resolution:
    """Where looked-up repos live now (None: gone), and why the lookups stopped early, if they did."""

    full_names: dict[str, str | None] = field(default_factory=dict)
    stopped: str | None = None


class GitHubApi(dg.ConfigurableResource):
    """A PyGithub client for api.github.com or a compatible base URL; all waits are bounded."""

    token: str = ""
    base_url: str = "https://api.github.com"
    per_page: int = 100
    timeout_seconds: int = 30
    max_retries: int = 6  # per request, across rate limits and 5xx
    backoff_factor: float = 1.0  # 5xx: 1s, 2s, 4s ... capped by backoff_max_seconds
    backoff_max_seconds: float = 60.0
    max_rate_limit_wait_seconds: float = 900.0  # longest single primary/secondary wait
    secondary_rate_wait_seconds: float = 60.0  # secondary limit without Retry-After
    seconds_between_requests: float = 0.25
    secrets: ParameterStoreSecrets | None = None

    def has_credentials(self) -> bool:
        """Whether a token is configured (or may be in the parameter store); optional callers skip GitHub otherwise."""
        return bool(self._token()) or self.secrets is not None

    def _token(self) -> str:
        # Unset when the definitions loaded, the secret may still be mounted into the run's environment.
        return self.token or dg.EnvVar(TOKEN_SETTING).get_value() or ""

    def client(self) -> tuple[Github, list[str]]:
        """A client plus the secret values it holds, so callers can scrub them from what they report."""
        token = resolve_credential(TOKEN_SETTING, self._token(), self.secrets)
        from github import Auth, Github

        retry = bounded_retry_class()(
            total=self.max_retries,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max_seconds,
            status_forcelist=[429, *range(500, 600)],
            secondary_rate_wait=self.secondary_rate_wait_seconds,
            max_rate_limit_wait=self.max_rate_limit_wait_seconds,
        )
        client = Github(
            base_url=self.base_url.rstrip("/"),
            auth=Auth.Token(token),
            retry=retry,
            per_page=self.per_page,
            timeout=self.timeout_seconds,
            seconds_between_requests=self.seconds_between_requests or None,
            seconds_between_writes=None,
        )
        return client, [token]

    def current_full_names(self, repos: Sequence[str], until_found: Collection[str] = (), reserve: int = 500) -> Resolution:
        """Each repo's full_name now, in order: GitHub answers a renamed or transferred repo (through a
        301) with its new one. Stops early, keeping what it found, once every name in `until_found` was
        an answer, on an error, or when this hour's remaining requests fall to `reserve` (the landings'
        budget)."""
        from github import BadCredentialsException, UnknownObjectException

        found, wanted = Resolution(), {name.lower() for name in until_found}
        try:
            gh, secrets = self.client()
        except CredentialError as error:
            found.stopped = str(error)
            return found
        try:
            for repo in repos:
                try:
                    answer = gh.get_repo(repo)
                except UnknownObjectException:
                    found.full_names[repo] = None
                    continue
                found.full_names[repo] = answer.full_name
                wanted.discard(answer.full_name.lower())
                if until_found and not wanted:
                    break
                remaining = answer.raw_headers.get("x-ratelimit-remaining")
                if remaining is not None and int(remaining) <= reserve and len(found.full_names) < len(repos):
                    found.stopped = f"{remaining} GitHub requests left this hour (reserve {reserve})"
                    break
        except BadCredentialsException:
            found.stopped = f"GitHub refused the token (401 Bad credentials): check {TOKEN_SETTING}"
        except Exception as error:  # bounded retries exhausted, a wait too long, a timeout: keep what was found
            found.stopped = scrub(f"{type(error).__name__}: {error}", secrets)[:300]
        finally:
            gh.close()
        return found


def github_api_from(env) -> GitHubApi:
    """The client resource for `env`: METRICS_GITHUB_TOKEN (or SSM) and optional METRICS_GITHUB_BASE_URL.
    Never an unset EnvVar: steps that use GitHub only when a token exists must still start without one."""
    fields: dict = {}
    store = parameter_store_from(env)
    if store is not None:
        fields["secrets"] = store
    if env.get(TOKEN_SETTING):
        fields["token"] = dg.EnvVar(TOKEN_SETTING)
    if env.get(BASE_URL_SETTING):
        fields["base_url"] = dg.EnvVar(BASE_URL_SETTING)
    return GitHubApi(**fields)
