"""The three metadata tiers: PATCH (deep merge) and PUT (replace) on /v1/users/{id}/metadata,
and the 8 KB per-tier limit (reference §4.7, §4.8, §5).

Each test uses its own user and stays well under the documented 10 writes / 10 s per user.
"""

from __future__ import annotations

import pytest
from clerk_backend_api import models

from support import METADATA_LIMIT_BYTES, assert_clerk_error, compact_size


def tiers(user: models.User):
    return user.public_metadata, user.private_metadata, user.unsafe_metadata


def padded(key: str, size: int, char: str = "x") -> dict:
    """A one-key object whose compact JSON is exactly `size` bytes (for a one-byte `char`)."""
    value = {key: ""}
    value[key] = char * (size - compact_size(value))
    assert compact_size(value) == size
    return value


def test_update_metadata_deep_merges_and_null_deletes_at_any_depth(clerk, make_user):
    user = make_user(
        public_metadata={
            "a": 1,
            "keep": "yes",
            "gone": "soon",
            "nested": {"x": 1, "y": 2, "deep": {"k": "v", "drop": True}},
        },
        private_metadata={"p": 1},
        unsafe_metadata={"u": 1},
    )
    merged = clerk.users.update_metadata(
        user_id=user.id,
        public_metadata={
            "a": 2,
            "gone": None,
            "nested": {"y": None, "z": 3, "deep": {"drop": None}},
            "new": [1, 2],
        },
    )
    expected_public = {
        "a": 2,
        "keep": "yes",
        "nested": {"x": 1, "z": 3, "deep": {"k": "v"}},
        "new": [1, 2],
    }
    assert merged.public_metadata == expected_public
    # Tiers not in the body are untouched.
    assert merged.private_metadata == {"p": 1}
    assert merged.unsafe_metadata == {"u": 1}
    assert merged.updated_at >= user.updated_at
    assert tiers(clerk.users.get(user_id=user.id)) == tiers(merged)


def test_update_metadata_merges_each_given_tier_independently(clerk, make_user):
    user = make_user(
        public_metadata={"pub": {"a": 1}},
        private_metadata={"priv": {"a": 1}},
        unsafe_metadata={"uns": {"a": 1}},
    )
    merged = clerk.users.update_metadata(
        user_id=user.id,
        public_metadata={"pub": {"b": 2}},
        private_metadata={"priv": {"a": None, "c": 3}},
        unsafe_metadata={"extra": True},
    )
    assert merged.public_metadata == {"pub": {"a": 1, "b": 2}}
    assert merged.private_metadata == {"priv": {"c": 3}}
    assert merged.unsafe_metadata == {"uns": {"a": 1}, "extra": True}


def test_update_metadata_replaces_arrays_and_scalars_instead_of_merging(clerk, make_user):
    user = make_user(public_metadata={"list": [1, 2, 3], "scalar": 1, "obj": {"a": 1}})
    merged = clerk.users.update_metadata(
        user_id=user.id,
        public_metadata={"list": [4], "scalar": {"now": "object"}, "obj": "now scalar"},
    )
    assert merged.public_metadata == {
        "list": [4],
        "scalar": {"now": "object"},
        "obj": "now scalar",
    }


def test_update_metadata_with_nothing_changes_nothing(clerk, make_user):
    user = make_user(public_metadata={"a": 1}, private_metadata={"b": 2}, unsafe_metadata={"c": 3})
    same = clerk.users.update_metadata(user_id=user.id)
    assert tiers(same) == ({"a": 1}, {"b": 2}, {"c": 3})
    emptied = clerk.users.update_metadata(user_id=user.id, public_metadata={})
    assert tiers(emptied) == ({"a": 1}, {"b": 2}, {"c": 3})


def test_update_metadata_unknown_user_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.update_metadata(user_id="user_" + "0" * 27, public_metadata={"a": 1})
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_replace_metadata_replaces_only_the_given_tiers(clerk, make_user):
    user = make_user(
        public_metadata={"old": 1, "nested": {"a": 1}},
        private_metadata={"secret": "s"},
        unsafe_metadata={"u": 1},
    )
    replaced = clerk.users.replace_metadata(
        user_id=user.id, public_metadata={"nested": {"b": 2}}
    )
    assert replaced.public_metadata == {"nested": {"b": 2}}
    assert replaced.private_metadata == {"secret": "s"}
    assert replaced.unsafe_metadata == {"u": 1}

    cleared = clerk.users.replace_metadata(
        user_id=user.id, private_metadata={}, unsafe_metadata={"v": [1]}
    )
    assert tiers(cleared) == ({"nested": {"b": 2}}, {}, {"v": [1]})
    assert tiers(clerk.users.get(user_id=user.id)) == tiers(cleared)


def test_replace_metadata_unknown_user_is_404(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.replace_metadata(user_id="user_" + "0" * 27, public_metadata={})
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_merge_that_grows_a_tier_past_8_kb_is_422_and_changes_nothing(clerk, make_user):
    user = make_user(
        public_metadata={"p": 1},
        private_metadata={"blob": "x" * 8000},
        unsafe_metadata={"u": 1},
    )
    before = clerk.users.get(user_id=user.id)
    with pytest.raises(models.ClerkErrors) as caught:
        # Each tier alone is small; the private tier is too big only after the merge.
        clerk.users.update_metadata(
            user_id=user.id,
            public_metadata={"p": 2, "q": 3},
            private_metadata={"more": "y" * 300},
        )
    assert_clerk_error(caught.value, 422, "form_param_exceeds_allowed_size", "private_metadata")

    after = clerk.users.get(user_id=user.id)
    assert tiers(after) == tiers(before)
    assert after.updated_at == before.updated_at


def test_limit_is_8192_bytes_of_compact_json_per_tier(clerk, make_user):
    user = make_user()
    at_limit = padded("k", METADATA_LIMIT_BYTES)
    stored = clerk.users.replace_metadata(user_id=user.id, unsafe_metadata=at_limit)
    assert stored.unsafe_metadata == at_limit

    # Another tier at the limit too: the limit is per tier, not for all three together.
    both = clerk.users.replace_metadata(user_id=user.id, public_metadata=at_limit)
    assert both.public_metadata == at_limit and both.unsafe_metadata == at_limit

    over = padded("k", METADATA_LIMIT_BYTES + 1)
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.replace_metadata(user_id=user.id, unsafe_metadata=over)
    assert_clerk_error(caught.value, 422, "form_param_exceeds_allowed_size", "unsafe_metadata")
    assert clerk.users.get(user_id=user.id).unsafe_metadata == at_limit


def test_limit_counts_utf8_bytes_not_characters(clerk, make_user):
    user = make_user()
    # 4100 two-byte characters: about 4.1k characters but over 8 KB of UTF-8.
    wide = {"s": "\u00e9" * 4100}
    assert compact_size(wide) > METADATA_LIMIT_BYTES
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.replace_metadata(user_id=user.id, public_metadata=wide)
    assert_clerk_error(caught.value, 422, "form_param_exceeds_allowed_size", "public_metadata")
    assert clerk.users.get(user_id=user.id).public_metadata == {}


def test_metadata_that_is_not_an_object_is_form_param_value_invalid(http, clerk, make_user):
    """The SDK's types forbid this, so it goes over raw HTTP (reference §5 "Wrong type")."""
    user = make_user(public_metadata={"a": 1})
    for bad in ("x", [1, 2], 5):
        res = http.patch(f"/users/{user.id}/metadata", json={"public_metadata": bad})
        assert res.status_code == 422, (bad, res.text)
        err = res.json()["errors"][0]
        assert err["code"] == "form_param_value_invalid", (bad, res.text)
        assert err["meta"]["param_name"] == "public_metadata", (bad, res.text)
    assert clerk.users.get(user_id=user.id).public_metadata == {"a": 1}


def test_put_null_tier_keeps_the_user_readable_by_the_python_sdk(http, clerk, make_user):
    """PUT may store a JSON null (reference §4.8), but the SDK types public_metadata as a
    non-null dict: whatever is stored, reading the user back must still parse (§13 item 5)."""
    user = make_user(public_metadata={"a": 1}, private_metadata={"p": 1})
    res = http.put(f"/users/{user.id}/metadata", json={"public_metadata": None})
    assert res.status_code == 200, res.text
    fetched = clerk.users.get(user_id=user.id)
    assert not fetched.public_metadata
    assert fetched.private_metadata == {"p": 1}


def test_patch_with_a_null_tier_is_a_no_op(http, clerk, make_user):
    user = make_user(public_metadata={"a": 1}, unsafe_metadata={"u": 1})
    res = http.patch(
        f"/users/{user.id}/metadata",
        json={"public_metadata": None, "unsafe_metadata": {"v": 2}},
    )
    assert res.status_code == 200, res.text
    fetched = clerk.users.get(user_id=user.id)
    assert fetched.public_metadata == {"a": 1}
    assert fetched.unsafe_metadata == {"u": 1, "v": 2}


def test_if_match_through_the_sdks_http_headers(clerk, http, make_user):
    """Beyond Clerk: a user's ETag names its revision, and a write whose If-Match names a
    revision the user is no longer at is refused (412) and changes nothing. The SDK cannot
    read response headers, but every call takes `http_headers`."""
    user = make_user(public_metadata={"seats": 1})
    etag = http.get(f"/users/{user.id}").headers["etag"]
    written = clerk.users.update_metadata(
        user_id=user.id, public_metadata={"seats": 2}, http_headers={"If-Match": etag}
    )
    assert written.public_metadata == {"seats": 2}
    # The revision read is gone: the same precondition is refused, and nothing is written.
    with pytest.raises(models.SDKError) as refused:
        clerk.users.update_metadata(
            user_id=user.id, public_metadata={"seats": 99}, http_headers={"If-Match": etag}
        )
    assert refused.value.status_code == 412
    assert "precondition_failed" in refused.value.body
    assert clerk.users.get(user_id=user.id).public_metadata == {"seats": 2}
    # The current one is accepted.
    current = http.get(f"/users/{user.id}").headers["etag"]
    assert current != etag
    clerk.users.update_metadata(
        user_id=user.id, public_metadata={"seats": 3}, http_headers={"If-Match": current}
    )
    assert clerk.users.get(user_id=user.id).public_metadata == {"seats": 3}
