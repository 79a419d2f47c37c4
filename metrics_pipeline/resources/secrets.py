"""Credentials from `dg.EnvVar` or, optionally, AWS SSM Parameter Store; never echoed anywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import dagster as dg

SSM_PATH_SETTING = "METRICS_SECRETS_SSM_PATH"
SSM_REGION_SETTING = "METRICS_SECRETS_SSM_REGION"
REDACTED = "***"


class _DropResponseBodies(logging.Filter):
    """botocore logs whole response bodies at DEBUG, which for SSM would include the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Response body")


@contextmanager
def _quiet_botocore_bodies() -> Iterator[None]:
    logger, quiet = logging.getLogger("botocore.parsers"), _DropResponseBodies()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class CredentialError(RuntimeError):
    """A credential is missing or was refused; the message names the setting, never the value."""


class ParameterStoreSecrets(dg.Config):
    """Looks a setting up as the SecureString `{path}/{SETTING}` when its env var is left empty."""

    path: str
    region_name: str | None = None

    def parameter_name(self, setting: str) -> str:
        return f"{self.path.rstrip('/')}/{setting}"

    def lookup(self, setting: str) -> str:
        from dagster_aws.ssm.parameters import construct_ssm_client, get_parameters_by_name  # ~0.8 s: only when used

        name = self.parameter_name(setting)
        try:
            client = construct_ssm_client(max_attempts=3, region_name=self.region_name)
            with _quiet_botocore_bodies():
                found = get_parameters_by_name(client, [name], with_decryption=True)
        except Exception as error:  # boto errors name the parameter, never a value
            raise CredentialError(
                f"could not read {setting} from SSM parameter {name} ({type(error).__name__}; "
                f"settings {SSM_PATH_SETTING}, {SSM_REGION_SETTING})"
            ) from None
        if not found.get(name):
            raise CredentialError(f"{setting} is not set: SSM parameter {name} is missing or empty")
        return found[name]


def parameter_store_from(env) -> ParameterStoreSecrets | None:
    """The SSM lookup configured by METRICS_SECRETS_SSM_PATH (and _REGION), or None."""
    path = (env.get(SSM_PATH_SETTING) or "").strip()
    if not path:
        return None
    return ParameterStoreSecrets(path=path, region_name=(env.get(SSM_REGION_SETTING) or None))


def resolve_credential(setting: str, value: str | None, store: ParameterStoreSecrets | None) -> str:
    """The configured value, else the parameter-store value; a clear error naming `setting` if neither."""
    if value:
        return value
    if store is not None:
        return store.lookup(setting)
    raise CredentialError(f"{setting} is not set (nor is {SSM_PATH_SETTING} for a parameter-store lookup)")


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each secret replaced, longest first."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
