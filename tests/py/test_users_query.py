"""GET /v1/users, /v1/users/count and /v1/users/{id} through the SDK (reference §4.1–4.3, §11).

One population of five users is created per module. Every query is narrowed to that population
(by its token or by ids), so the assertions hold even on a database shared with other runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List

import pytest
from clerk_backend_api import models

from support import assert_clerk_error, uniq

# Username letters by creation index: ordering by username differs from creation order.
USERNAME_LETTERS = ["c", "a", "e", "b", "d"]


@dataclass
class Population:
    token: str
    users: List[models.User]

    def ids(self, *indexes: int) -> List[str]:
        return [self.users[i].id for i in indexes]

    def email(self, i: int) -> str:
        return self.users[i].email_addresses[0].email_address


@pytest.fixture(scope="module")
def population(clerk) -> Population:
    token = uniq("q")
    users = []
    for i, letter in enumerate(USERNAME_LETTERS):
        users.append(
            clerk.users.create(
                email_address=[f"{token}.{i}@example.com"],
                username=f"{token}_{letter}",
                external_id=f"ext_{token}_{i}",
                first_name=f"First{i}",
                last_name=f"Last{token}",
            )
        )
        # created_at has millisecond precision: keep the creation order unambiguous.
        time.sleep(0.01)
    created = [u.created_at for u in users]
    assert created == sorted(created) and len(set(created)) == len(created), created
    return Population(token, users)


def ids_of(users: List[models.User]) -> List[str]:
    return [u.id for u in users]


def listed(clerk, **request) -> List[str]:
    result = clerk.users.list(request=request)
    assert isinstance(result, list)
    assert all(isinstance(u, models.User) for u in result)
    return ids_of(result)


def test_get_returns_the_user(clerk, population):
    user = population.users[2]
    fetched = clerk.users.get(user_id=user.id)
    assert fetched.id == user.id
    assert fetched.username == user.username
    assert fetched.email_addresses[0].email_address == population.email(2)


def test_get_unknown_user_is_404_resource_not_found(clerk):
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.get(user_id="user_" + "0" * 27)
    assert_clerk_error(caught.value, 404, "resource_not_found")


def test_list_by_email_address_ignores_unknown_values(clerk, population):
    unknown = f"nobody.{population.token}@example.com"
    result = listed(clerk, email_address=[population.email(0), population.email(3), unknown])
    assert sorted(result) == sorted(population.ids(0, 3))


def test_list_by_user_id(clerk, population):
    assert sorted(listed(clerk, user_id=population.ids(1, 4))) == sorted(population.ids(1, 4))


def test_list_excludes_user_id_with_minus_prefix(clerk, population):
    result = listed(clerk, query=population.token, user_id=["-" + population.users[0].id])
    assert sorted(result) == sorted(population.ids(1, 2, 3, 4))


def test_list_by_external_id(clerk, population):
    assert listed(clerk, external_id=[f"ext_{population.token}_2"]) == population.ids(2)


def test_list_by_phone_number_as_written_at_creation(clerk, make_user):
    digits = str(time.time_ns())[-7:]
    written = f"+1 (555) {digits[:3]}-{digits[3:]}"
    user = make_user(phone_number=[written])
    assert user.phone_numbers[0].phone_number == f"+1555{digits}"
    for asked in (written, f"+1555{digits}", f"+1 555 {digits[:3]} {digits[3:]}"):
        found = clerk.users.list(request={"phone_number": [asked]})
        assert [u.id for u in found] == [user.id], asked
        assert clerk.users.count(request={"phone_number": [asked]}).total_count == 1, asked


def test_list_by_username(clerk, population):
    assert listed(clerk, username=[population.users[3].username]) == population.ids(3)


def test_list_by_query_matches_partially(clerk, population):
    # A fragment of the token matches every email and username of the population.
    result = listed(clerk, query=population.token[3:12])
    assert sorted(result) == sorted(population.ids(0, 1, 2, 3, 4))


def test_list_by_query_on_first_name(clerk, population):
    # `query` also covers names: narrow by user_id so other users named First3 do not matter.
    result = listed(clerk, query="First3", user_id=population.ids(0, 1, 2, 3, 4))
    assert result == population.ids(3)


@pytest.mark.parametrize(
    ("field", "make_value"),
    [
        ("email_address_query", lambda p: p.email(2).split("@")[0][2:].upper()),
        ("username_query", lambda p: p.users[2].username[3:].upper()),
        ("name_query", lambda p: "fIRST2"),
    ],
)
def test_list_by_case_insensitive_substring_queries(clerk, population, field, make_value):
    result = listed(clerk, user_id=population.ids(0, 1, 2, 3, 4), **{field: make_value(population)})
    assert result == population.ids(2)


def test_list_by_created_at_window(clerk, population):
    middle = population.users[2].created_at
    after = listed(clerk, query=population.token, created_at_after=middle, order_by="+created_at")
    before = listed(clerk, query=population.token, created_at_before=middle, order_by="+created_at")
    assert after == population.ids(3, 4)
    assert before == population.ids(0, 1)


def test_list_filters_are_anded(clerk, population):
    result = listed(
        clerk,
        query=population.token,
        user_id=population.ids(0, 1),
        username=[population.users[1].username, population.users[2].username],
    )
    assert result == population.ids(1)


def test_list_default_order_is_newest_first(clerk, population):
    assert listed(clerk, query=population.token) == population.ids(4, 3, 2, 1, 0)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("-created_at", [4, 3, 2, 1, 0]),
        ("+created_at", [0, 1, 2, 3, 4]),
        ("created_at", [0, 1, 2, 3, 4]),
        ("+username", [1, 3, 0, 4, 2]),
        ("-username", [2, 4, 0, 3, 1]),
    ],
)
def test_list_order_by(clerk, population, order_by, expected):
    assert listed(clerk, query=population.token, order_by=order_by) == population.ids(*expected)


def test_list_pages_with_limit_and_offset(clerk, population):
    pages = [
        listed(clerk, query=population.token, order_by="+created_at", limit=2, offset=offset)
        for offset in (0, 2, 4, 5)
    ]
    assert pages == [population.ids(0, 1), population.ids(2, 3), population.ids(4), []]


def test_list_pages_follow_order_by(clerk, population):
    result = listed(clerk, query=population.token, order_by="+username", limit=3, offset=1)
    assert result == population.ids(3, 0, 4)


def test_list_no_match_is_empty_array(clerk, population):
    assert listed(clerk, email_address=[f"ghost.{population.token}@example.com"]) == []


def test_count_uses_the_same_filters(clerk, population):
    total = clerk.users.count(request={"query": population.token})
    assert isinstance(total, models.TotalCount)
    assert total.object == models.TotalCountObject.TOTAL_COUNT
    assert total.total_count == 5

    by_email = clerk.users.count(
        request={"email_address": [population.email(0), population.email(1)]}
    )
    assert by_email.total_count == 2

    assert clerk.users.count(request={"user_id": population.ids(2)}).total_count == 1
    ghost = clerk.users.count(request={"username": [f"{population.token}_zzz"]})
    assert ghost.total_count == 0


def test_count_ignores_paging(clerk, population):
    # The SDK's list defaults (limit=10) must not leak into count; count has no limit at all.
    listed_two = listed(clerk, query=population.token, limit=2)
    assert len(listed_two) == 2
    assert clerk.users.count(request={"query": population.token}).total_count == 5


@pytest.mark.parametrize("limit", [0, 501])
def test_list_limit_out_of_range_is_422(clerk, limit):
    # limit: min 1, max 500 (reference §11); the SDK itself does not check it.
    with pytest.raises(models.ClerkErrors) as caught:
        clerk.users.list(request={"limit": limit})
    assert caught.value.status_code == 422, caught.value.body
    assert (caught.value.data.errors[0].meta or {}).get("param_name") == "limit"


def test_list_accepts_the_maximum_limit(clerk, population):
    assert len(listed(clerk, query=population.token, limit=500)) == 5


def cursor_page(http, token: str, **params) -> List[str]:
    response = http.get("/users", params={"query": token, **params})
    assert response.status_code == 200, response.text
    return [u["id"] for u in response.json()]


def test_starting_after_walks_pages_in_either_created_at_order(http, population):
    # The 2026 spec's cursor (reference §4.1): the users after the given one, in created_at order.
    for order_by, indexes in (("-created_at", [4, 3, 2, 1, 0]), ("+created_at", [0, 1, 2, 3, 4])):
        walked, cursor = [], None
        for _ in range(5):  # three pages hold five users; more means the cursor was ignored
            params = {"limit": 2, "order_by": order_by}
            if cursor:
                params["starting_after"] = cursor
            page = cursor_page(http, population.token, **params)
            walked += page
            if len(page) < 2:
                break
            cursor = page[-1]
        assert walked == population.ids(*indexes), order_by
    # Without order_by the default order (newest first) applies.
    after_newest = cursor_page(http, population.token, starting_after=population.ids(4)[0])
    assert after_newest == population.ids(3, 2, 1, 0)


@pytest.mark.parametrize(
    "params, param_name",
    [
        ({"order_by": "+username"}, "order_by"),
        ({"order_by": "-updated_at"}, "order_by"),
        ({"offset": 1}, "offset"),
        ({}, "starting_after"),
    ],
)
def test_starting_after_misuse_is_422(http, population, params, param_name):
    cursor = population.ids(2)[0] if param_name != "starting_after" else "user_2xhFjEI5X2qWRvtV13BzSj8H6Dk"
    response = http.get("/users", params={"starting_after": cursor, **params})
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "form_param_value_invalid", error
    assert error["meta"]["param_name"] == param_name, error


def test_excluding_organization_members_excludes_nobody(clerk, population):
    # Roster has no organizations: nobody is a member, so `-org_…` keeps everyone.
    assert listed(clerk, query=population.token, organization_id=["-org_2xhFjEI5X2qWRvtV13BzSj8H6Dk"]) == population.ids(4, 3, 2, 1, 0)
    assert listed(clerk, query=population.token, organization_id=["org_2xhFjEI5X2qWRvtV13BzSj8H6Dk"]) == []
    total = clerk.users.count(request={"query": population.token, "organization_id": ["-org_2xhFjEI5X2qWRvtV13BzSj8H6Dk"]})
    assert total.total_count == 5


def test_provider_and_provider_user_id_go_together(http):
    for params, missing in (({"provider": "oauth_google"}, "provider_user_id"), ({"provider_user_id": "123"}, "provider")):
        response = http.get("/users", params=params)
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["code"] == "form_param_missing", error
        assert error["meta"]["param_name"] == missing, error
    both = http.get("/users", params={"provider": "oauth_google", "provider_user_id": "123"})
    assert both.status_code == 200 and both.json() == []
