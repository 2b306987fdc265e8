"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Dict, Optional

from clerk_backend_api import Clerk, models
from clerk_backend_api.utils import BackoffStrategy, RetryConfig

# Per-request timeout, so a server that hangs fails one test instead of the whole run.
REQUEST_TIMEOUT_MS = 15_000
METADATA_LIMIT_BYTES = 8192


def no_retries() -> RetryConfig:
    # The SDK's default retries every 5XX for up to an hour (reference §1 "Retries").
    return RetryConfig("none", BackoffStrategy(1, 1, 1, 1), False)


def make_clerk(server, secret_key: Optional[str] = None) -> Clerk:
    """The official SDK pointed at a running Roster (`server` has `api_url` and `secret_key`)."""
    return Clerk(
        bearer_auth=secret_key if secret_key is not None else server.secret_key,
        server_url=server.api_url,
        retry_config=no_retries(),
        timeout_ms=REQUEST_TIMEOUT_MS,
    )


def uniq(prefix: str = "t") -> str:
    """A lower-case token unique to this run: usable in emails, usernames and queries."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def new_email(tag: str = "") -> str:
    return f"{uniq('e')}{tag}@example.com"


def now_ms() -> int:
    return int(time.time() * 1000)


def compact_size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON: how Roster measures a metadata tier (reference §5)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def first_error(exc: models.ClerkBaseError) -> Dict[str, Any]:
    """The first entry of a Clerk error envelope, whichever SDK error class carried it.

    The SDK raises the typed `ClerkErrors` only for the statuses an operation lists and a plain
    `SDKError` (raw body) for the rest, e.g. a 404 from `users.ban`.
    """
    if isinstance(exc, models.ClerkErrors):
        return exc.data.errors[0].model_dump()
    body = json.loads(exc.body)
    return body["errors"][0]


def assert_clerk_error(
    exc: models.ClerkBaseError,
    status: int,
    code: str,
    param_name: Optional[str] = None,
) -> Dict[str, Any]:
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc.body}"
    err = first_error(exc)
    assert err["code"] == code, f"expected code {code!r}: {exc.body}"
    assert err["message"] and err["long_message"], exc.body
    if param_name is not None:
        assert (err.get("meta") or {}).get("param_name") == param_name, exc.body
    return err
