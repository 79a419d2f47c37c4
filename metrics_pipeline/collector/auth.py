"""Per-product authentication: bearer tokens stored as SHA-256 hashes, or HS256 JWTs per product.

A request authenticates as exactly one product; failures carry no detail (the reason is only
counted), so a caller cannot tell an unknown token from a bad signature.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import jwt


TOKENS_SETTING = "METRICS_COLLECTOR_TOKENS"
JWT_KEYS_SETTING = "METRICS_COLLECTOR_JWT_KEYS"
_PRODUCT = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Unauthorized(Exception):
    """No valid credential: answered with a bare 401."""


class AuthConfigError(ValueError):
    """A malformed authentication setting; names the setting and entry, never a secret."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Authenticator:
    token_products: dict[str, str] = field(default_factory=dict)  # sha256 hex -> product
    jwt_keys: dict[str, bytes] = field(default_factory=dict)  # product -> HS256 key

    def product_for(self, authorization: str | None) -> str:
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise Unauthorized
        token = authorization[7:].strip()
        if token.count(".") == 2:
            return self._jwt_product(token)
        product = self.token_products.get(token_hash(token))
        if product is None:
            raise Unauthorized
        return product

    def _jwt_product(self, token: str) -> str:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            product = claims.get("product")
            key = self.jwt_keys.get(product) if isinstance(product, str) else None
            if key is None:
                raise Unauthorized
            jwt.decode(token, key, algorithms=["HS256"], options={"require": ["product"]})
        except jwt.PyJWTError:
            raise Unauthorized from None
        return product


def authenticator_from(env: Mapping[str, str]) -> Authenticator:
    """METRICS_COLLECTOR_TOKENS = `product:sha256hex,...`; METRICS_COLLECTOR_JWT_KEYS = JSON
    `{"product": "key"}` (a secret: from the environment, or SSM under METRICS_SECRETS_SSM_PATH)."""
    tokens: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in (env.get(TOKENS_SETTING) or "").split(","))):
        product, _, digest = entry.partition(":")
        digest = digest.strip().lower()
        if not _PRODUCT.match(product.strip()) or not _HEX64.match(digest):
            raise AuthConfigError(
                f"{TOKENS_SETTING}: entry for {product.strip()[:40]!r} must be `product:<sha256 hex of the token>`"
            )
        tokens[digest] = product.strip()
    keys: dict[str, bytes] = {}
    raw = env.get(JWT_KEYS_SETTING) or ""
    if not raw and (env.get("METRICS_SECRETS_SSM_PATH") or "").strip():
        # Imported only here: it loads Dagster, which a collector without SSM never needs.
        from metrics_pipeline.resources.secrets import parameter_store_from, resolve_credential

        raw = resolve_credential(JWT_KEYS_SETTING, None, parameter_store_from(env))
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise AuthConfigError(f"{JWT_KEYS_SETTING} must be a JSON object {{\"product\": \"key\"}} (value not shown)") from None
        if not isinstance(parsed, dict):
            raise AuthConfigError(f"{JWT_KEYS_SETTING} must be a JSON object {{\"product\": \"key\"}} (value not shown)")
        for product, key in parsed.items():
            if not _PRODUCT.match(str(product)) or not isinstance(key, str) or len(key) < 32:
                raise AuthConfigError(f"{JWT_KEYS_SETTING}: product {str(product)[:40]!r} needs a key of at least 32 characters")
            keys[product] = key.encode()
    if not tokens and not keys:
        raise AuthConfigError(f"set {TOKENS_SETTING} and/or {JWT_KEYS_SETTING}: the collector accepts no unauthenticated events")
    return Authenticator(tokens, keys)
