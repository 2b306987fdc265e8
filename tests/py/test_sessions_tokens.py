"""Sessions, session tokens, JWKS and JWT templates through the Python SDK (reference §3, §8, §9).

The point is the SDK's pydantic models: every call goes through the SDK method that exists for it,
so a missing or mistyped field surfaces as a `ResponseValidationError`, and each returned model is
checked for the right values. Raw HTTP is used only where the SDK has no method
(`/instance/session_token_claims`), for `paginated=true` (whose `{data,total_count}` shape the SDK
types as a list), and for JWT template claims: SDK 7.0.0 models `claims` as an empty pydantic
model, so it sends `"claims":{}` whatever the caller passes and drops the claims of every
template it reads.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Tuple

import jwt as pyjwt
import pytest
from clerk_backend_api import models

from support import assert_clerk_error, first_error, uniq
from tokens_support import (
    SESSION_TOKEN_CAT,
    TEMPLATE_TOKEN_CAT,
    key_for,
    split_jwt,
    tampered,
    verify_rs256,
    verify_rs256_pure,
)

UNKNOWN_SESSION = "sess_" + "0" * 27
UNKNOWN_TEMPLATE = "jtmpl_" + "0" * 27
DEFAULT_SESSION_LIFETIME_S = 60
# Session tokens are valid from 10 s before they are issued, as Clerk's are; a template's
# allowed_clock_skew defaults to 5.
SESSION_NBF_SKEW_S = 10
DEFAULT_CLOCK_SKEW_S = 5

SESSION_REQUIRED = {
    "object", "id", "user_id", "client_id", "status", "last_active_at",
    "expire_at", "abandon_at", "updated_at", "created_at",
}
SESSION_OPTIONAL = {"actor", "last_active_organization_id", "latest_activity", "tasks"}
TEMPLATE_FIELDS = {
    "object", "id", "name", "claims", "lifetime", "allowed_clock_skew",
    "custom_signing_key", "signing_algorithm", "created_at", "updated_at",
}


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwks(clerk) -> models.Jwks:
    return clerk.jwks.get_jwks()


@pytest.fixture
def make_session(clerk, make_user) -> Callable[..., Tuple[models.User, models.Session]]:
    """A fresh user (any `make_user` kwargs) and an active session for it, both via the SDK."""

    def create(**user_kwargs) -> Tuple[models.User, models.Session]:
        user = make_user(**user_kwargs)
        return user, clerk.sessions.create(request={"user_id": user.id})

    return create


def create_template_raw(http, **body) -> Dict[str, Any]:
    """POST /jwt_templates over raw HTTP: the only way to give a template claims (see module doc)."""
    body.setdefault("name", uniq("tpl_"))
    res = http.post("/jwt_templates", json=body)
    assert res.status_code == 200, res.text
    return res.json()


def put_session_claims(http, claims: Any):
    return http.put("/instance/session_token_claims", json={"claims": claims})


def assert_token_times(claims: Dict[str, Any], lifetime: int, skew: int) -> None:
    now = time.time()
    for name in ("iat", "nbf", "exp"):
        assert isinstance(claims[name], int), (name, claims)
    assert abs(claims["iat"] - now) <= 5, claims
    assert claims["exp"] - claims["iat"] == lifetime, claims
    assert claims["iat"] - claims["nbf"] == skew, claims


def mint(clerk, session_id: str, template: Optional[str] = None, **kwargs) -> str:
    if template is None:
        res = clerk.sessions.create_token(session_id=session_id, **kwargs)
        assert isinstance(res, models.CreateSessionTokenResponseBody)
        assert res.object == models.CreateSessionTokenObject.TOKEN
    else:
        res = clerk.sessions.create_token_from_template(
            session_id=session_id, template_name=template, **kwargs
        )
        assert isinstance(res, models.CreateSessionTokenFromTemplateResponseBody)
        assert res.object == models.CreateSessionTokenFromTemplateObject.TOKEN
    assert isinstance(res.jwt, str) and res.jwt.count(".") == 2, res
    return res.jwt


# --- JWKS (§8.1) ---------------------------------------------------------------------------------


def test_jwks_parses_and_holds_an_rs256_signing_key(clerk, http, jwks):
    assert isinstance(jwks, models.Jwks)
    assert jwks.keys, "JWKS must hold at least one key"
    for key in jwks.keys:
        assert isinstance(key, models.Keys)
        assert key.kty == "RSA" and key.alg == "RS256" and key.use == "sig", key
        assert key.kid and key.kid.startswith("ins_"), key
        assert key.n and key.e == "AQAB", key
    # All six fields clerk-rs requires are on the wire, as strings (§8.1).
    raw = http.get("/jwks")
    assert raw.status_code == 200, raw.text
    for key in raw.json()["keys"]:
        for name in ("use", "kty", "kid", "alg", "n", "e"):
            assert isinstance(key.get(name), str), (name, key)
    assert [k["kid"] for k in raw.json()["keys"]] == [k.kid for k in jwks.keys]
    # Stable across calls.
    assert clerk.jwks.get_jwks() == jwks


# --- Sessions (§3, §9) ---------------------------------------------------------------------------


def test_create_session_returns_an_active_session(clerk, http, make_session):
    before = int(time.time() * 1000)
    user, session = make_session()
    assert isinstance(session, models.Session)
    assert session.object == models.SessionObject.SESSION
    assert session.id.startswith("sess_")
    assert session.user_id == user.id
    assert session.client_id.startswith("client_")
    assert session.status == models.Status.ACTIVE
    assert before - 1000 <= session.created_at <= int(time.time() * 1000) + 1000
    assert session.updated_at >= session.created_at
    assert session.last_active_at >= session.created_at
    assert session.expire_at > session.created_at
    assert session.abandon_at >= session.expire_at
    assert session.actor is None
    assert session.last_active_organization_id is None

    raw = http.get(f"/sessions/{session.id}").json()
    assert SESSION_REQUIRED <= set(raw), raw
    assert set(raw) <= SESSION_REQUIRED | SESSION_OPTIONAL, raw


def test_get_session_round_trips(clerk, make_session):
    _, session = make_session()
    fetched = clerk.sessions.get(session_id=session.id)
    assert isinstance(fetched, models.Session)
    assert fetched.id == session.id
    assert fetched.user_id == session.user_id
    assert fetched.client_id == session.client_id
    assert fetched.status == models.Status.ACTIVE
    assert fetched.created_at == session.created_at
    assert fetched.expire_at == session.expire_at


def test_the_client_of_a_session_parses_and_lists_it(clerk, make_session):
    user, session = make_session()
    client = clerk.clients.get(client_id=session.client_id)
    assert isinstance(client, models.Client)
    assert client.id == session.client_id
    assert client.session_ids == [session.id]
    assert client.sessions[0].user_id == user.id
    assert client.last_active_session_id == session.id
    assert client.sign_in_id is None and client.sign_up_id is None
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.clients.verify(request={"token": session.client_id + ".not-the-secret"})
    assert_clerk_error(caught.value, 400, "token_invalid")
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.clients.get(client_id="client_" + "0" * 27)
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_the_sdks_verify_token_fetches_roster_jwks(roster, clerk, make_session):
    """The SDK's networkless verification, pointed at Roster: `api_url` is the base URL without
    `/v1` (the SDK appends the version), unlike `Clerk(server_url=…/v1)`."""
    from clerk_backend_api.security import verify_token
    from clerk_backend_api.security.types import VerifyTokenOptions

    user, session = make_session()
    jwt = clerk.sessions.create_token(session_id=session.id).jwt
    claims = verify_token(jwt, VerifyTokenOptions(secret_key=roster.secret_key, api_url=roster.url))
    assert claims["sub"] == user.id
    assert claims["sid"] == session.id


def test_authenticate_request_verifies_with_the_printed_public_key(roster, clerk, make_session):
    """Python's authenticate_request has no api_url: it verifies networkless with `jwt_key`, the
    PEM `roster keys public-key` prints (the CLI opens the server's database, as configured)."""
    import subprocess

    import httpx
    from clerk_backend_api.security.types import AuthenticateRequestOptions

    from conftest import roster_binary

    pem = subprocess.run(
        [str(roster_binary()), "keys", "public-key", "--data-dir", roster.data_dir],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    user, session = make_session()
    jwt = clerk.sessions.create_token(session_id=session.id).jwt
    request = httpx.Request("GET", "http://app.local/", headers={"Authorization": f"Bearer {jwt}"})
    state = clerk.authenticate_request(request, AuthenticateRequestOptions(jwt_key=pem))
    assert state.is_signed_in, state.reason
    assert state.payload["sub"] == user.id
    tampered = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    request = httpx.Request("GET", "http://app.local/", headers={"Authorization": f"Bearer {tampered}"})
    assert not clerk.authenticate_request(request, AuthenticateRequestOptions(jwt_key=pem)).is_signed_in


def test_create_session_for_unknown_user_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create(request={"user_id": "user_" + "0" * 27})
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_get_unknown_session_is_404(clerk):
    for bad in (UNKNOWN_SESSION, "not-a-session-id"):
        with pytest.raises(models.ClerkErrors) as caught:
            clerk.sessions.get(session_id=bad)
        assert_clerk_error(caught.value, 404, "resource_not_found")


def test_list_sessions_by_user_is_a_bare_array_newest_first(clerk, make_user):
    user = make_user()
    other = make_user()
    first = clerk.sessions.create(request={"user_id": user.id})
    time.sleep(0.01)
    second = clerk.sessions.create(request={"user_id": user.id})
    clerk.sessions.create(request={"user_id": other.id})

    listed = clerk.sessions.list(user_id=user.id)
    assert isinstance(listed, list)
    assert all(isinstance(s, models.Session) for s in listed)
    assert [s.id for s in listed] == [second.id, first.id]
    assert all(s.user_id == user.id for s in listed)

    # limit / offset page through the same order.
    assert [s.id for s in clerk.sessions.list(user_id=user.id, limit=1)] == [second.id]
    assert [s.id for s in clerk.sessions.list(user_id=user.id, limit=1, offset=1)] == [first.id]
    # client_id narrows to that client's session.
    by_client = clerk.sessions.list(client_id=first.client_id)
    assert [s.id for s in by_client] == [first.id]


def test_list_sessions_paginated_true_is_data_and_total_count(http, clerk, make_user):
    user = make_user()
    ids = {clerk.sessions.create(request={"user_id": user.id}).id for _ in range(3)}
    res = http.get("/sessions", params={"user_id": user.id, "paginated": "true", "limit": 2})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total_count"] == 3, body
    assert len(body["data"]) == 2 and {s["id"] for s in body["data"]} <= ids
    # The SDK's List[Session] would parse every item of that page.
    for item in body["data"]:
        models.Session.model_validate(item)


def test_revoke_session(clerk, make_session):
    _, session = make_session()
    revoked = clerk.sessions.revoke(session_id=session.id)
    assert isinstance(revoked, models.Session)
    assert revoked.id == session.id
    assert revoked.status == models.Status.REVOKED
    assert revoked.updated_at >= session.updated_at
    assert clerk.sessions.get(session_id=session.id).status == models.Status.REVOKED


def test_revoke_unknown_session_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.revoke(session_id=UNKNOWN_SESSION)
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_list_sessions_filters_by_status(clerk, make_user):
    user = make_user()
    keep = clerk.sessions.create(request={"user_id": user.id})
    gone = clerk.sessions.create(request={"user_id": user.id})
    clerk.sessions.revoke(session_id=gone.id)

    revoked = clerk.sessions.list(user_id=user.id, status=models.QueryParamStatus.REVOKED)
    assert [s.id for s in revoked] == [gone.id]
    assert revoked[0].status == models.Status.REVOKED
    active = clerk.sessions.list(user_id=user.id, status=models.QueryParamStatus.ACTIVE)
    assert [s.id for s in active] == [keep.id]
    assert clerk.sessions.list(user_id=user.id, status=models.QueryParamStatus.ENDED) == []


def test_list_sessions_with_an_unknown_status_is_rejected(http, make_user):
    user = make_user()
    res = http.get("/sessions", params={"user_id": user.id, "status": "sleeping"})
    assert res.status_code in (400, 422), res.text
    err = res.json()["errors"][0]
    assert (err.get("meta") or {}).get("param_name") == "status", res.text


def test_banning_a_user_revokes_their_sessions(clerk, make_user):
    user = make_user()
    sessions = [clerk.sessions.create(request={"user_id": user.id}) for _ in range(2)]
    clerk.users.ban(user_id=user.id)

    listed = clerk.sessions.list(user_id=user.id)
    assert {s.id for s in listed} == {s.id for s in sessions}
    assert all(s.status == models.Status.REVOKED for s in listed), [s.status for s in listed]
    for session in sessions:
        with pytest.raises(models.ClerkErrors) as caught:
            clerk.sessions.create_token(session_id=session.id)
        assert caught.value.status_code == 404, caught.value.body

    # A banned user gets no new session either (an untyped status, so a plain SDKError).
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.sessions.create(request={"user_id": user.id})
    assert caught.value.status_code in (400, 403, 422), caught.value.body

    # Unbanning does not bring the revoked sessions back, but new ones work.
    clerk.users.unban(user_id=user.id)
    assert all(
        clerk.sessions.get(session_id=s.id).status == models.Status.REVOKED for s in sessions
    )
    fresh = clerk.sessions.create(request={"user_id": user.id})
    assert fresh.status == models.Status.ACTIVE
    mint(clerk, fresh.id)


# --- Session tokens (§8.2) -----------------------------------------------------------------------


def test_session_token_is_rs256_signed_by_the_jwks_key(clerk, jwks, make_session):
    user, session = make_session()
    token = mint(clerk, session.id)
    header, _, _, _ = split_jwt(token)
    assert header["alg"] == "RS256", header
    assert header.get("typ") == "JWT", header
    assert header.get("cat") == SESSION_TOKEN_CAT, header
    assert header["kid"] in {k.kid for k in jwks.keys}, header

    claims = verify_rs256(token, jwks.keys)
    assert claims["sub"] == user.id
    assert claims["sid"] == session.id
    assert claims["v"] == 2
    assert isinstance(claims["iss"], str) and claims["iss"].startswith("http"), claims
    assert isinstance(claims["jti"], str) and claims["jti"], claims
    fva = claims["fva"]
    assert isinstance(fva, list) and len(fva) == 2 and all(isinstance(x, int) for x in fva), fva
    assert fva[1] == -1, fva  # no second factor
    assert_token_times(claims, DEFAULT_SESSION_LIFETIME_S, SESSION_NBF_SKEW_S)


def test_a_tampered_session_token_fails_verification(clerk, jwks, make_session):
    _, session = make_session()
    bad = tampered(mint(clerk, session.id))
    jwk = key_for(bad, jwks.keys)
    assert not verify_rs256_pure(bad, jwk)
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(bad, pyjwt.PyJWK(jwk).key, algorithms=["RS256"], options={"verify_aud": False})


def test_each_token_has_its_own_jti(clerk, jwks, make_session):
    _, session = make_session()
    first = verify_rs256(mint(clerk, session.id), jwks.keys)
    second = verify_rs256(mint(clerk, session.id), jwks.keys)
    assert first["jti"] != second["jti"]
    assert first["sid"] == second["sid"]


@pytest.mark.parametrize("seconds", [30, 3600])
def test_expires_in_seconds_sets_the_lifetime(clerk, jwks, make_session, seconds):
    _, session = make_session()
    claims = verify_rs256(mint(clerk, session.id, expires_in_seconds=seconds), jwks.keys)
    assert_token_times(claims, seconds, SESSION_NBF_SKEW_S)


def test_expires_in_seconds_null_means_the_default(clerk, jwks, make_session):
    _, session = make_session()
    claims = verify_rs256(mint(clerk, session.id, expires_in_seconds=None), jwks.keys)
    assert_token_times(claims, DEFAULT_SESSION_LIFETIME_S, SESSION_NBF_SKEW_S)


@pytest.mark.parametrize("seconds", [29, 315_360_001])
def test_expires_in_seconds_out_of_range_is_rejected(clerk, make_session, seconds):
    _, session = make_session()
    # The SDK types only 401/404 for this operation, so a 4XX arrives as a plain SDKError.
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.sessions.create_token(session_id=session.id, expires_in_seconds=seconds)
    assert caught.value.status_code in (400, 422), caught.value.body
    err = first_error(caught.value)
    assert err["code"] and err["message"] and err["long_message"], caught.value.body
    assert (err.get("meta") or {}).get("param_name") == "expires_in_seconds", caught.value.body


def test_token_for_unknown_session_is_404(clerk):
    for bad in (UNKNOWN_SESSION, "nope"):
        with pytest.raises(models.ClerkErrors) as caught:
            clerk.sessions.create_token(session_id=bad)
        assert_clerk_error(caught.value, 404, "resource_not_found")


def test_revoked_session_cannot_mint(clerk, http, make_session):
    _, session = make_session()
    template = create_template_raw(http, claims={})
    clerk.sessions.revoke(session_id=session.id)
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token(session_id=session.id)
    assert caught.value.status_code == 404, caught.value.body
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token_from_template(
            session_id=session.id, template_name=template["name"]
        )
    assert caught.value.status_code == 404, caught.value.body


# --- Custom session claims (/instance/session_token_claims, raw HTTP) ----------------------------


def test_custom_session_claims_are_rendered_into_session_tokens(clerk, http, jwks, make_session):
    custom = {
        "email": "{{user.primary_email_address}}",
        "meta": "{{user.public_metadata}}",
        "tier": "{{user.public_metadata.tier || 'free'}}",
        "static": 7,
    }
    try:
        res = put_session_claims(http, custom)
        assert res.status_code == 200, res.text
        assert res.json()["object"] == "session_token_claims"
        assert res.json()["claims"] == custom
        got = http.get("/instance/session_token_claims")
        assert got.status_code == 200 and got.json()["claims"] == custom, got.text

        user, session = make_session(public_metadata={"tier": "gold", "n": 1})
        claims = verify_rs256(mint(clerk, session.id), jwks.keys)
        assert claims["email"] == user.email_addresses[0].email_address
        assert claims["meta"] == {"tier": "gold", "n": 1}
        assert claims["tier"] == "gold"
        assert claims["static"] == 7
        # The defaults still win and are all there.
        assert claims["sub"] == user.id and claims["sid"] == session.id and claims["v"] == 2
        assert_token_times(claims, DEFAULT_SESSION_LIFETIME_S, SESSION_NBF_SKEW_S)

        # Custom session claims never leak into template tokens.
        template = create_template_raw(http, claims={"only": "this"})
        tclaims = verify_rs256(mint(clerk, session.id, template["name"]), jwks.keys)
        assert "email" not in tclaims and "static" not in tclaims and tclaims["only"] == "this"
    finally:
        assert put_session_claims(http, {}).status_code == 200


def test_reserved_session_claim_is_rejected_and_nothing_changes(http):
    before = http.get("/instance/session_token_claims").json()["claims"]
    res = put_session_claims(http, {"sid": "mine"})
    assert res.status_code == 422, res.text
    err = res.json()["errors"][0]
    assert err["code"] == "form_param_value_invalid", res.text
    assert (err.get("meta") or {}).get("param_name") == "claims", res.text
    assert http.get("/instance/session_token_claims").json()["claims"] == before


# --- JWT templates (§3, §8.3) --------------------------------------------------------------------


def test_template_crud_through_the_sdk(clerk, http):
    name = uniq("tpl_")
    created = clerk.jwt_templates.create(
        request={"name": name, "claims": {}, "lifetime": 120, "allowed_clock_skew": 10}
    )
    assert isinstance(created, models.JWTTemplate)
    assert created.object == models.JWTTemplateObject.JWT_TEMPLATE
    assert created.id.startswith("jtmpl_")
    assert created.name == name
    assert isinstance(created.claims, models.Claims)
    assert created.lifetime == 120
    assert created.allowed_clock_skew == 10
    assert created.custom_signing_key is False
    assert created.signing_algorithm == "RS256"
    assert created.updated_at >= created.created_at > 0
    raw = http.get(f"/jwt_templates/{created.id}").json()
    assert set(raw) == TEMPLATE_FIELDS, raw

    fetched = clerk.jwt_templates.get(template_id=created.id)
    assert fetched == created

    listed = clerk.jwt_templates.list(limit=100)
    assert isinstance(listed, list) and all(isinstance(t, models.JWTTemplate) for t in listed)
    assert created.id in {t.id for t in listed}

    time.sleep(0.01)
    renamed = uniq("tpl_")
    updated = clerk.jwt_templates.update(
        template_id=created.id, name=renamed, claims={}, lifetime=300
    )
    assert isinstance(updated, models.JWTTemplate)
    assert updated.id == created.id and updated.name == renamed
    assert updated.lifetime == 300
    assert updated.allowed_clock_skew == 10  # omitted on PATCH → kept
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert clerk.jwt_templates.get(template_id=created.id).name == renamed

    deleted = clerk.jwt_templates.delete(template_id=created.id)
    assert isinstance(deleted, models.DeletedObject)
    assert deleted.object == "jwt_template" and deleted.id == created.id and deleted.deleted is True
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.get(template_id=created.id)
    assert_clerk_error(caught.value, 404, "resource_not_found")
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.delete(template_id=created.id)
    assert_clerk_error(caught.value, 404, "resource_not_found")
    assert created.id not in {t.id for t in clerk.jwt_templates.list(limit=100)}


def test_template_defaults(clerk):
    created = clerk.jwt_templates.create(request={"name": uniq("tpl_"), "claims": {}})
    assert created.lifetime == 60
    assert created.allowed_clock_skew == 5
    assert created.custom_signing_key is False
    assert created.signing_algorithm == "RS256"


def test_sdk_template_claims_are_dropped_by_the_sdk_not_the_server(clerk, http):
    """Documents the SDK 7.0.0 limitation the raw-HTTP helpers work around."""
    raw = create_template_raw(http, claims={"role": "admin"})
    assert raw["claims"] == {"role": "admin"}
    via_sdk = clerk.jwt_templates.get(template_id=raw["id"])
    assert via_sdk.claims.model_dump() == {}  # the SDK's Claims model has no fields
    sent = clerk.jwt_templates.create(request={"name": uniq("tpl_"), "claims": {"role": "x"}})
    assert http.get(f"/jwt_templates/{sent.id}").json()["claims"] == {}


def test_template_list_paginated_true_is_data_and_total_count(clerk, http):
    made = [clerk.jwt_templates.create(request={"name": uniq("tpl_"), "claims": {}}) for _ in range(2)]
    res = http.get("/jwt_templates", params={"paginated": "true", "limit": 500})
    assert res.status_code == 200, res.text
    body = res.json()
    assert isinstance(body["total_count"], int) and body["total_count"] >= 2
    assert {t.id for t in made} <= {t["id"] for t in body["data"]}
    for item in body["data"]:
        models.JWTTemplate.model_validate(item)
    bare = http.get("/jwt_templates", params={"limit": 500})
    assert isinstance(bare.json(), list), bare.text


def test_duplicate_template_name_is_form_already_exists(clerk):
    name = uniq("tpl_")
    clerk.jwt_templates.create(request={"name": name, "claims": {}})
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.create(request={"name": name, "claims": {}})
    assert_clerk_error(caught.value, 422, "form_already_exists", "name")


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"lifetime": 29}, "lifetime"),
        ({"lifetime": 315_360_001}, "lifetime"),
        ({"allowed_clock_skew": 301}, "allowed_clock_skew"),
        ({"custom_signing_key": True, "signing_key": "k"}, "custom_signing_key"),
    ],
)
def test_invalid_template_fields_are_rejected(clerk, extra, param):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.create(request={"name": uniq("tpl_"), "claims": {}, **extra})
    assert caught.value.status_code in (400, 422), caught.value.body
    err = first_error(caught.value)
    assert (err.get("meta") or {}).get("param_name") == param, caught.value.body


@pytest.mark.parametrize(
    "claims", [{"sub": "x"}, {"secret": "{{user.private_metadata}}"}, ["not", "an", "object"]]
)
def test_invalid_template_claims_are_rejected(http, claims):
    res = http.post("/jwt_templates", json={"name": uniq("tpl_"), "claims": claims})
    assert res.status_code == 422, res.text
    err = res.json()["errors"][0]
    assert (err.get("meta") or {}).get("param_name") == "claims", res.text


def test_template_unknown_id_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.get(template_id=UNKNOWN_TEMPLATE)
    assert_clerk_error(caught.value, 404, "resource_not_found")
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.jwt_templates.delete(template_id=UNKNOWN_TEMPLATE)
    assert_clerk_error(caught.value, 404, "resource_not_found")
    # update types 400/402/422 only: a 404 is a plain SDKError carrying the envelope.
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.jwt_templates.update(template_id=UNKNOWN_TEMPLATE, name=uniq("tpl_"), claims={})
    assert_clerk_error(caught.value, 404, "resource_not_found")


# --- Template tokens (§8.2) ----------------------------------------------------------------------


def test_template_token_renders_claims_and_is_signed(clerk, http, jwks, make_session):
    template = create_template_raw(
        http,
        claims={
            "role": "admin",
            "uid": "{{user.id}}",
            "tier": "{{user.public_metadata.tier || 'free'}}",
            "greet": "Hi {{user.first_name}}",
            "nested": {"email": "{{user.primary_email_address}}", "list": [1, "two"]},
        },
        lifetime=300,
        allowed_clock_skew=7,
    )
    user, session = make_session(first_name="Ada", public_metadata={})
    token = mint(clerk, session.id, template["name"])

    header, _, _, _ = split_jwt(token)
    assert header["alg"] == "RS256" and header.get("typ") == "JWT", header
    assert header.get("cat") == TEMPLATE_TOKEN_CAT, header
    assert header["kid"] in {k.kid for k in jwks.keys}, header

    claims = verify_rs256(token, jwks.keys)
    assert claims["sub"] == user.id
    assert claims["role"] == "admin"
    assert claims["uid"] == user.id
    assert claims["tier"] == "free"
    assert claims["greet"] == "Hi Ada"
    assert claims["nested"] == {
        "email": user.email_addresses[0].email_address,
        "list": [1, "two"],
    }
    assert "sid" not in claims and "v" not in claims, claims
    assert isinstance(claims["iss"], str) and claims["jti"], claims
    assert_token_times(claims, 300, 7)


def test_template_token_expires_in_seconds_overrides_the_template_lifetime(
    clerk, http, jwks, make_session
):
    template = create_template_raw(http, claims={}, lifetime=300)
    _, session = make_session()
    claims = verify_rs256(mint(clerk, session.id, template["name"], expires_in_seconds=45), jwks.keys)
    assert_token_times(claims, 45, DEFAULT_CLOCK_SKEW_S)


def test_template_token_follows_renames_and_deletes(clerk, http, make_session):
    template = create_template_raw(http, claims={"a": 1})
    _, session = make_session()
    mint(clerk, session.id, template["name"])

    renamed = uniq("tpl_")
    clerk.jwt_templates.update(template_id=template["id"], name=renamed, claims={})
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token_from_template(
            session_id=session.id, template_name=template["name"]
        )
    assert_clerk_error(caught.value, 404, "resource_not_found")
    _, claims, _, _ = split_jwt(mint(clerk, session.id, renamed))
    assert "a" not in claims  # the SDK update sent `claims: {}`

    clerk.jwt_templates.delete(template_id=template["id"])
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token_from_template(session_id=session.id, template_name=renamed)
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_template_token_for_unknown_template_name_is_404(clerk, make_session):
    _, session = make_session()
    missing = uniq("missing_")
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token_from_template(session_id=session.id, template_name=missing)
    err = assert_clerk_error(caught.value, 404, "resource_not_found")
    assert f"No JWT template exists with name: {missing}" in err["long_message"] + err["message"]


def test_template_token_for_unknown_session_is_404(clerk, http):
    template = create_template_raw(http, claims={})
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.sessions.create_token_from_template(
            session_id=UNKNOWN_SESSION, template_name=template["name"]
        )
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_a_minted_token_records_the_day_in_last_active_at(clerk, make_session):
    # Reference §2: last_active_at has day precision; a token is the user's activity.
    user, session = make_session()
    assert user.last_active_at is None
    clerk.sessions.create_token(session_id=session.id)
    day_ms = 86_400_000
    today = int(time.time() * 1000) // day_ms * day_ms
    deadline = time.time() + 5
    while clerk.users.get(user_id=user.id).last_active_at is None and time.time() < deadline:
        time.sleep(0.05)
    after = clerk.users.get(user_id=user.id)
    assert after.last_active_at in (today, today + day_ms), after.last_active_at  # (midnight race)
    assert after.updated_at == user.updated_at, "activity is not an update of the user"
    found = clerk.users.list(request={"user_id": [user.id], "last_active_at_after": today - 1})
    assert [u.id for u in found] == [user.id]
