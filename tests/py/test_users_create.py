"""POST /v1/users through `users.create`: the returned models must parse strictly (reference §2, §4.4)."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from clerk_backend_api import models

from support import assert_clerk_error, new_email, now_ms, uniq

USER_ID = re.compile(r"user_[0-9A-Za-z]{27}")
IDN_ID = re.compile(r"idn_[0-9A-Za-z]{27}")
# Timestamps are Unix milliseconds; allow for a little clock skew and a slow debug build.
SLACK_MS = 5_000


def test_create_full_user_parses_and_echoes_every_field(clerk):
    tok = uniq()
    primary, secondary = f"{tok}@example.com", f"{tok}.alt@example.com"
    public = {"plan": "pro", "nested": {"a": 1, "list": [1, "two", {"three": 3}]}, "flag": True}
    private = {"stripe_id": "cus_123", "score": 4.5}
    unsafe = {"theme": "dark", "empty": {}}
    before = now_ms()
    user = clerk.users.create(
        email_address=[primary, secondary],
        password="Pw-" + secrets.token_hex(8),
        username=f"u_{tok}",
        first_name="Ada",
        last_name="Lovelace",
        external_id=f"ext_{tok}",
        public_metadata=public,
        private_metadata=private,
        unsafe_metadata=unsafe,
    )
    after = now_ms()

    assert isinstance(user, models.User)
    assert user.object == models.UserObject.USER
    assert USER_ID.fullmatch(user.id), user.id
    assert user.username == f"u_{tok}"
    assert user.first_name == "Ada"
    assert user.last_name == "Lovelace"
    assert user.external_id == f"ext_{tok}"
    assert user.public_metadata == public
    assert user.private_metadata == private
    assert user.unsafe_metadata == unsafe

    assert user.password_enabled is True
    assert user.banned is False
    assert user.locked is False
    assert user.two_factor_enabled is False
    assert user.totp_enabled is False
    assert user.backup_code_enabled is False
    assert user.has_image is False
    assert user.mfa_enabled_at is None and user.mfa_disabled_at is None
    assert user.last_sign_in_at is None
    assert user.primary_phone_number_id is None
    assert user.primary_web3_wallet_id is None
    assert user.phone_numbers == []
    assert user.web3_wallets == []
    assert user.passkeys == []
    assert user.external_accounts == []
    assert user.saml_accounts == []
    assert user.enterprise_accounts == []

    # Milliseconds, not seconds, and close to now.
    assert before - SLACK_MS <= user.created_at <= after + SLACK_MS
    assert user.created_at <= user.updated_at <= after + SLACK_MS

    # Email addresses: order kept, the first is primary, each verified by the admin (reference §2.1).
    assert [e.email_address for e in user.email_addresses] == [primary, secondary]
    first = user.email_addresses[0]
    assert IDN_ID.fullmatch(first.id or ""), first.id
    assert user.primary_email_address_id == first.id
    assert first.id != user.email_addresses[1].id
    for address in user.email_addresses:
        assert address.object == models.EmailAddressObject.EMAIL_ADDRESS
        assert address.reserved is False
        assert address.linked_to == []
        assert before - SLACK_MS <= address.created_at <= after + SLACK_MS
        assert address.updated_at >= address.created_at
        verification = address.verification
        assert isinstance(verification, models.Admin), type(verification)
        assert verification.object == models.VerificationAdminVerificationObject.VERIFICATION_ADMIN
        assert verification.status == models.VerificationAdminVerificationStatus.VERIFIED
        assert verification.strategy == "admin"

    # What was stored is what was returned.
    fetched = clerk.users.get(user_id=user.id)
    assert fetched.model_dump() == user.model_dump()


def test_create_minimal_user_has_empty_metadata_and_null_names(make_user):
    email = new_email()
    user = make_user(email_address=[email])
    assert user.public_metadata == {}
    assert user.private_metadata == {}
    assert user.unsafe_metadata == {}
    assert user.username is None
    assert user.first_name is None and user.last_name is None
    assert user.external_id is None
    assert user.password_enabled is False
    assert [e.email_address for e in user.email_addresses] == [email]
    assert user.primary_email_address_id == user.email_addresses[0].id


def test_duplicate_email_is_form_identifier_exists(clerk, make_user):
    email = new_email()
    make_user(email_address=[email])
    with pytest.raises(models.ClerkErrors) as caught:
        make_user(email_address=[email])
    assert_clerk_error(caught.value, 422, "form_identifier_exists", "email_address")
    assert clerk.users.count(request={"email_address": [email]}).total_count == 1


def test_duplicate_email_differing_only_in_case_is_rejected(make_user):
    email = new_email()
    make_user(email_address=[email])
    with pytest.raises(models.ClerkErrors) as caught:
        make_user(email_address=[email.upper()])
    assert_clerk_error(caught.value, 422, "form_identifier_exists", "email_address")


def test_duplicate_username_is_form_identifier_exists(make_user):
    username = uniq("u_")
    make_user(username=username)
    with pytest.raises(models.ClerkErrors) as caught:
        make_user(username=username)
    assert_clerk_error(caught.value, 422, "form_identifier_exists", "username")


def test_invalid_email_is_form_param_format_invalid(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.create(email_address=["not-an-email"])
    assert_clerk_error(caught.value, 422, "form_param_format_invalid", "email_address")


def test_short_password_is_rejected(clerk):
    email = new_email()
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.create(email_address=[email], password="short")
    assert_clerk_error(caught.value, 422, "form_password_length_too_short")
    assert clerk.users.count(request={"email_address": [email]}).total_count == 0


def test_create_with_oversized_metadata_is_rejected_and_creates_nothing(clerk):
    email = new_email()
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.create(email_address=[email], public_metadata={"blob": "x" * 8200})
    assert_clerk_error(caught.value, 422, "form_param_exceeds_allowed_size", "public_metadata")
    assert clerk.users.count(request={"email_address": [email]}).total_count == 0


def test_user_json_is_plain_application_json_with_all_tiers(http, make_user):
    """Wire details the pydantic models tolerate but @clerk/backend relies on (§1, §2, §5)."""
    user = make_user()
    res = http.get(f"/users/{user.id}")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    for tier in ("public_metadata", "private_metadata", "unsafe_metadata"):
        assert body[tier] == {}, tier
    # Clerk always sends a (default avatar) URL; @clerk/backend types it as a non-null string.
    assert body["image_url"].startswith("http"), body["image_url"]
    avatar = httpx.get(body["image_url"] + "?width=48", timeout=10)
    assert avatar.status_code == 200
    assert avatar.headers["content-type"] == "image/svg+xml"
    assert isinstance(body["email_addresses"][0]["linked_to"], list)
    assert body["email_addresses"][0]["verification"]["object"] == "verification_admin"


def test_duplicate_external_id_is_rejected(clerk, make_user):
    external_id = uniq("ext_")
    make_user(external_id=external_id)
    with pytest.raises(models.ClerkErrors) as caught:
        make_user(external_id=external_id)
    assert caught.value.status_code == 422, caught.value.body
    err = caught.value.data.errors[0]
    # The exact code is an open question (reference §13 item 7).
    assert err.code in ("form_identifier_exists", "form_already_exists"), caught.value.body
    assert (err.meta or {}).get("param_name") == "external_id", caught.value.body
    assert clerk.users.count(request={"external_id": [external_id]}).total_count == 1


def test_create_with_rfc3339_created_at_for_migrations(make_user):
    user = make_user(created_at="2012-10-20T07:15:20.902Z")
    assert user.created_at == 1_350_717_320_902


def test_reserved_identifications_read_back_through_the_sdk(clerk):
    # Reserved: unverified but held for this user. Clerk's `verification_admin` only ever says
    # `verified`, so a reserved identification carries no verification at all; the SDK must parse
    # the user from create, get and list alike.
    token = uniq("rsv")
    reserved, verified = f"{token}.r@example.com", f"{token}.v@example.com"
    user = clerk.users.create(
        email_address=[reserved, verified],
        email_address_identification_status=[
            models.EmailAddressIdentificationStatus.RESERVED,
            models.EmailAddressIdentificationStatus.VERIFIED,
        ],
        phone_number=["+15555550123"],
        phone_number_identification_status=[models.PhoneNumberIdentificationStatus.RESERVED],
    )
    for got in (user, clerk.users.get(user_id=user.id), *clerk.users.list(request={"query": token})):
        assert got.id == user.id
        by_address = {e.email_address: e for e in got.email_addresses}
        assert by_address[reserved].reserved is True
        assert by_address[reserved].verification is None
        assert by_address[verified].reserved is False
        assert isinstance(by_address[verified].verification, models.Admin)
        assert [(p.reserved, p.verification) for p in got.phone_numbers] == [(True, None)]
