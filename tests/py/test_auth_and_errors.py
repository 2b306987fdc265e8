"""Authentication and the error envelope (reference §1, §6, §7)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from clerk_backend_api import models

from support import REQUEST_TIMEOUT_MS, assert_clerk_error, make_clerk


def test_wrong_secret_key_is_401_clerk_key_invalid(roster):
    with make_clerk(roster, secret_key="sk_test_" + secrets.token_hex(24)) as wrong:
        with pytest.raises(models.ClerkErrors) as caught:
            wrong.users.list()
        assert_clerk_error(caught.value, 401, "clerk_key_invalid")
        with pytest.raises(models.ClerkErrors) as caught:
            wrong.users.get(user_id="user_" + "0" * 27)
        assert_clerk_error(caught.value, 401, "clerk_key_invalid")


def test_right_key_is_accepted(clerk):
    assert isinstance(clerk.users.list(request={"limit": 1}), list)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["missing", "empty", "basic", "bearer-without-key"],
)
def test_malformed_authorization_is_401_header_format_invalid(roster, headers):
    with httpx.Client(base_url=roster.api_url, timeout=REQUEST_TIMEOUT_MS / 1000) as raw:
        res = raw.get("/users", headers=headers)
    assert res.status_code == 401, res.text
    assert res.headers["content-type"] == "application/json"
    assert res.json()["errors"][0]["code"] == "authorization_header_format_invalid"


def test_auth_is_checked_before_routing(roster):
    with httpx.Client(base_url=roster.api_url, timeout=REQUEST_TIMEOUT_MS / 1000) as raw:
        res = raw.get("/no/such/route")
    assert res.status_code == 401, res.text


def test_error_envelope_shape(http):
    res = http.get("/users/user_" + "0" * 27)
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1
    err = body["errors"][0]
    assert err["code"] == "resource_not_found"
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["long_message"], str) and err["long_message"]
    assert isinstance(body.get("clerk_trace_id"), str) and body["clerk_trace_id"]


@pytest.mark.parametrize(
    "version",
    ["not-a-version", "2025-13-45x", "1999-01-01"],
    ids=["garbage", "not-a-date", "date-before-any-version"],
)
def test_invalid_api_version_is_400_api_version_invalid(http, version):
    # Reference §1: an invalid version is an invalid request. Known versions start at 2021-02-05.
    res = http.get("/users", headers={"Clerk-API-Version": version})
    assert res.status_code == 400, res.text
    assert res.json()["errors"][0]["code"] == "api_version_invalid"


def test_api_version_in_header_and_query_at_once_is_400(http):
    res = http.get(
        "/users",
        params={"__clerk_api_version": "2025-11-10"},
        headers={"Clerk-API-Version": "2025-11-10"},
    )
    assert res.status_code == 400, res.text
    assert res.json()["errors"][0]["code"] == "api_version_invalid"
