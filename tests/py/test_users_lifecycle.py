"""Update, delete, ban, lock and password checks on one user at a time (reference §4.5, §4.6, §4.9)."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from clerk_backend_api import models

from support import assert_clerk_error, first_error, new_email, uniq

UNKNOWN_USER = "user_" + "0" * 27


def test_update_first_name_keeps_everything_else(clerk, make_user):
    user = make_user(first_name="Old", last_name="Keep", public_metadata={"k": 1})
    time.sleep(0.01)
    updated = clerk.users.update(user_id=user.id, first_name="New")
    assert updated.first_name == "New"
    assert updated.last_name == "Keep"
    assert updated.public_metadata == {"k": 1}
    assert updated.email_addresses[0].email_address == user.email_addresses[0].email_address
    assert updated.created_at == user.created_at
    assert updated.updated_at > user.updated_at
    assert clerk.users.get(user_id=user.id).first_name == "New"


def test_update_with_null_clears_nullable_fields(clerk, make_user):
    user = make_user(username=uniq("u_"), last_name="Gone", first_name="Stay")
    updated = clerk.users.update(user_id=user.id, username=None, last_name=None)
    assert updated.username is None
    assert updated.last_name is None
    assert updated.first_name == "Stay"


def test_update_to_a_taken_username_is_form_identifier_exists(clerk, make_user):
    taken = uniq("u_")
    make_user(username=taken)
    other = make_user(username=uniq("u_"))
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.update(user_id=other.id, username=taken)
    assert_clerk_error(caught.value, 422, "form_identifier_exists", "username")
    assert clerk.users.get(user_id=other.id).username == other.username


def test_update_unknown_user_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.update(user_id=UNKNOWN_USER, first_name="x")
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_delete_returns_deleted_object_and_the_user_is_gone(clerk, make_user):
    email = new_email()
    user = make_user(email_address=[email])
    deleted = clerk.users.delete(user_id=user.id)
    assert isinstance(deleted, models.DeletedObject)
    assert deleted.object == "user"
    assert deleted.id == user.id
    assert deleted.deleted is True

    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.get(user_id=user.id)
    assert_clerk_error(caught.value, 404, "resource_not_found")
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.delete(user_id=user.id)
    assert_clerk_error(caught.value, 404, "resource_not_found")

    assert clerk.users.list(request={"user_id": [user.id]}) == []
    assert clerk.users.count(request={"email_address": [email]}).total_count == 0
    # The address is free again.
    reused = make_user(email_address=[email])
    assert reused.id != user.id


def test_ban_and_unban(clerk, make_user):
    user = make_user()
    banned = clerk.users.ban(user_id=user.id)
    assert banned.id == user.id and banned.banned is True
    assert clerk.users.get(user_id=user.id).banned is True
    only_banned = clerk.users.list(request={"user_id": [user.id], "banned": True})
    assert [u.id for u in only_banned] == [user.id]
    assert clerk.users.list(request={"user_id": [user.id], "banned": False}) == []

    unbanned = clerk.users.unban(user_id=user.id)
    assert unbanned.banned is False
    assert clerk.users.get(user_id=user.id).banned is False


def test_lock_and_unlock(clerk, make_user):
    user = make_user()
    locked = clerk.users.lock(user_id=user.id)
    assert locked.locked is True
    # Locks last one hour by default (reference §4.9).
    assert locked.lockout_expires_in_seconds is not None
    assert 0 < locked.lockout_expires_in_seconds <= 3600
    assert clerk.users.get(user_id=user.id).locked is True

    unlocked = clerk.users.unlock(user_id=user.id)
    assert unlocked.locked is False
    assert unlocked.lockout_expires_in_seconds is None
    assert clerk.users.get(user_id=user.id).locked is False


def test_ban_unknown_user_is_404(clerk):
    # users.ban types only 402, so a 404 surfaces as a plain SDKError carrying the envelope.
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.ban(user_id=UNKNOWN_USER)
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_verify_password(clerk, make_user):
    password = "Pw-" + secrets.token_hex(8)
    user = make_user(password=password)
    assert user.password_enabled is True

    ok = clerk.users.verify_password(user_id=user.id, password=password)
    assert isinstance(ok, models.VerifyPasswordResponseBody)
    assert ok.verified is True

    # The SDK types no 422 body for this operation: it raises SDKError with the raw body.
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.verify_password(user_id=user.id, password=password + "-wrong")
    assert caught.value.status_code == 422, caught.value.body
    assert first_error(caught.value)["code"]


def test_verify_password_without_a_password_is_400(clerk, make_user):
    user = make_user()
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.verify_password(user_id=user.id, password="whatever-123")
    assert caught.value.status_code == 400, caught.value.body


def test_verify_password_unknown_user_is_404(clerk):
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.verify_password(user_id=UNKNOWN_USER, password="whatever-123")
    assert caught.value.status_code == 404, caught.value.body


def test_legacy_patch_user_replaces_metadata_under_2025_11_10(http, clerk, make_user):
    """The Python SDK pins 2025-11-10, where PATCH /users/{id} still takes metadata (§4.5)."""
    user = make_user(public_metadata={"a": 1, "b": 2}, private_metadata={"p": 1})
    res = http.patch(
        f"/users/{user.id}",
        json={"public_metadata": {"c": 3}},
        headers={"Clerk-API-Version": "2025-11-10"},
    )
    assert res.status_code == 200, res.text
    assert res.json()["public_metadata"] == {"c": 3}
    fetched = clerk.users.get(user_id=user.id)
    assert fetched.public_metadata == {"c": 3}
    assert fetched.private_metadata == {"p": 1}


def test_patch_user_rejects_metadata_under_2026_05_12(http, clerk, make_user):
    user = make_user(public_metadata={"a": 1})
    res = http.patch(
        f"/users/{user.id}",
        json={"public_metadata": {"c": 3}},
        headers={"Clerk-API-Version": "2026-05-12"},
    )
    assert res.status_code == 422, res.text
    err = json.loads(res.text)["errors"][0]
    assert err["code"], res.text
    assert (err.get("meta") or {}).get("param_name") == "public_metadata", res.text
    assert clerk.users.get(user_id=user.id).public_metadata == {"a": 1}


def _imported_digests(password: str):
    """Digests of `password` as other systems export them, in Clerk's formats for each hasher."""
    import base64
    import hashlib

    raw_salt = secrets.token_hex(6)
    bin_salt = secrets.token_bytes(12)
    return {
        "md5": hashlib.md5(password.encode()).hexdigest(),
        "sha256": hashlib.sha256(password.encode()).hexdigest(),
        # Django's export: the salt as is, the hash in base64.
        "pbkdf2_sha256_django": "pbkdf2_sha256$1000$%s$%s"
        % (raw_salt, base64.b64encode(hashlib.pbkdf2_hmac("sha256", password.encode(), raw_salt.encode(), 1000)).decode()),
        # Both salt and hash in base64.
        "pbkdf2_sha256": "pbkdf2_sha256$1000$%s$%s"
        % (
            base64.b64encode(bin_salt).decode(),
            base64.b64encode(hashlib.pbkdf2_hmac("sha256", password.encode(), bin_salt, 1000)).decode(),
        ),
        # The salt as is, the hash in hex.
        "pbkdf2_sha1": "pbkdf2_sha1$1000$%s$%s"
        % (raw_salt, hashlib.pbkdf2_hmac("sha1", password.encode(), raw_salt.encode(), 1000).hex()),
    }


@pytest.mark.parametrize("hasher", ["md5", "sha256", "pbkdf2_sha256_django", "pbkdf2_sha256", "pbkdf2_sha1"])
def test_imported_digests_from_other_systems_sign_the_user_in(clerk, hasher):
    # Migrations bring password digests, not passwords (reference §4.4, password_hasher).
    password = "Pw-" + secrets.token_hex(8)
    user = clerk.users.create(
        email_address=[new_email(hasher)],
        password_digest=_imported_digests(password)[hasher],
        password_hasher=hasher,
    )
    assert user.password_enabled is True
    assert clerk.users.verify_password(user_id=user.id, password=password).verified is True
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.verify_password(user_id=user.id, password=password + "-wrong")
    assert caught.value.status_code == 422, caught.value.body


def test_a_malformed_imported_digest_is_refused_and_creates_nobody(clerk):
    email = new_email("baddigest")
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.create(email_address=[email], password_digest="pbkdf2_sha256$1000$salt", password_hasher="pbkdf2_sha256_django")
    assert_clerk_error(caught.value, 422, "form_param_format_invalid", "password_digest")
    assert clerk.users.count(request={"email_address": [email]}).total_count == 0


def test_new_password_with_sign_out_of_other_sessions_revokes_every_session(clerk, make_user):
    # An admin resetting a compromised account's password expects its sessions gone (reference §4.5).
    user = make_user(password="Pw-" + secrets.token_hex(8))
    sessions = [clerk.sessions.create(request={"user_id": user.id}) for _ in range(2)]
    new_password = "Pw-" + secrets.token_hex(8)
    clerk.users.update(user_id=user.id, password=new_password, sign_out_of_other_sessions=True)
    assert [clerk.sessions.get(session_id=s.id).status for s in sessions] == [
        models.Status.REVOKED,
        models.Status.REVOKED,
    ]
    assert clerk.users.verify_password(user_id=user.id, password=new_password).verified is True


def test_sign_out_of_other_sessions_without_a_password_is_422_and_changes_nothing(clerk, make_user):
    user = make_user()
    session = clerk.sessions.create(request={"user_id": user.id})
    with pytest.raises(models.ClerkBaseError) as caught:
        clerk.users.update(user_id=user.id, first_name="Changed", sign_out_of_other_sessions=True)
    assert_clerk_error(caught.value, 422, "form_param_value_invalid", "sign_out_of_other_sessions")
    assert clerk.users.get(user_id=user.id).first_name == user.first_name
    assert clerk.sessions.get(session_id=session.id).status == models.Status.ACTIVE
