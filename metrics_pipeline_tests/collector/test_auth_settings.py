"""Authentication settings: hashed tokens, JWT keys from the environment or SSM; bad settings named, never echoed."""

import hashlib
import json

import boto3
import pytest

from metrics_pipeline.collector.auth import AuthConfigError, Unauthorized, authenticator_from
from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION
from metrics_pipeline_tests.support.collector_server import jwt_for

KEY = "k" * 40


def test_tokens_are_matched_by_hash_and_jwts_by_the_products_key():
    digest = hashlib.sha256(b"t-1").hexdigest()
    auth = authenticator_from({"METRICS_COLLECTOR_TOKENS": f"alpha:{digest.upper()}",
                               "METRICS_COLLECTOR_JWT_KEYS": json.dumps({"gamma": KEY})})
    assert auth.product_for("Bearer t-1") == "alpha"
    assert auth.product_for("bearer " + jwt_for("gamma", KEY)) == "gamma"
    for header in [None, "t-1", "Basic t-1", "Bearer " + digest, "Bearer " + jwt_for("alpha", KEY)]:
        with pytest.raises(Unauthorized):
            auth.product_for(header)


@pytest.mark.parametrize("env, message", [
    ({}, "set METRICS_COLLECTOR_TOKENS and/or METRICS_COLLECTOR_JWT_KEYS"),
    ({"METRICS_COLLECTOR_TOKENS": "alpha:plaintext-secret"}, "METRICS_COLLECTOR_TOKENS: entry for 'alpha'"),
    ({"METRICS_COLLECTOR_JWT_KEYS": "{not json, secret-value"}, "must be a JSON object"),
    ({"METRICS_COLLECTOR_JWT_KEYS": '{"gamma": "short-secret"}'}, "product 'gamma' needs a key of at least 32"),
])
def test_bad_settings_name_the_setting_and_never_the_secret(env, message):
    with pytest.raises(AuthConfigError, match=message) as error:
        authenticator_from(env)
    assert "secret" not in str(error.value).replace("set METRICS", "")


def test_jwt_keys_from_ssm_when_not_in_the_environment(dynamodb_endpoint, monkeypatch):
    for name, value in {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": LOCAL_REGION,
                        "AWS_ENDPOINT_URL_SSM": dynamodb_endpoint}.items():
        monkeypatch.setenv(name, value)
    boto3.client("ssm", region_name=LOCAL_REGION, endpoint_url=dynamodb_endpoint).put_parameter(
        Name="/collector-test/METRICS_COLLECTOR_JWT_KEYS", Value=json.dumps({"gamma": KEY}), Type="SecureString",
        Overwrite=True)
    auth = authenticator_from({"METRICS_SECRETS_SSM_PATH": "/collector-test"})
    assert auth.product_for("Bearer " + jwt_for("gamma", KEY)) == "gamma"
