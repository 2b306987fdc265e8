"""Boots a real Roster server and points the official Clerk Python SDK at it.

Each test module gets its own server process, data directory and secret key, so modules cannot
see each other's users (unless ROSTER_DATABASE_URL points every server at one shared database;
the tests therefore never assert on global counts, only on users they created themselves).

Run (from tests/py):
    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    cargo build -p roster-server        # or point ROSTER_BIN at a built binary
    .venv/bin/pytest -q
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List

import httpx
import pytest
from clerk_backend_api import Clerk, models

from support import REQUEST_TIMEOUT_MS, make_clerk, new_email

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
BOOT_TIMEOUT_S = 30.0


def roster_binary() -> Path:
    configured = os.environ.get("ROSTER_BIN")
    return Path(configured) if configured else REPO / "target" / "debug" / "roster"


@dataclass
class RosterServer:
    url: str
    secret_key: str
    process: subprocess.Popen
    data_dir: str
    stdout_lines: List[str] = field(default_factory=list)
    stderr_lines: List[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return self.url + "/v1"


def _pump(stream, sink: Callable[[str], None]) -> None:
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()


def _boot() -> RosterServer:
    binary = roster_binary()
    if not binary.is_file():
        pytest.fail(
            f"Roster binary not found at {binary}: run `cargo build -p roster-server` "
            "or set ROSTER_BIN",
            pytrace=False,
        )
    secret_key = "sk_test_" + secrets.token_hex(24)
    data_dir = tempfile.mkdtemp(prefix="roster-py-")
    env = dict(os.environ)
    env["ROSTER_SECRET_KEY"] = secret_key
    env["RUST_LOG"] = "warn"
    process = subprocess.Popen(
        [str(binary), "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    stdout_lines: List[str] = []
    stderr_lines: List[str] = []
    stdout_queue: "queue.Queue[str]" = queue.Queue()

    def on_stdout(line: str) -> None:
        stdout_lines.append(line)
        stdout_queue.put(line)

    # Both pipes are drained for the server's whole life so it can never block on a full pipe.
    threading.Thread(target=_pump, args=(process.stdout, on_stdout), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, stderr_lines.append), daemon=True).start()

    deadline = time.monotonic() + BOOT_TIMEOUT_S
    url = None
    while url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            line = stdout_queue.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            if process.poll() is not None and stdout_queue.empty():
                time.sleep(0.1)  # let the stderr pump catch up before reporting
                break
            continue
        match = LISTENING.search(line)
        if match:
            url = match.group(1)

    if url is None:
        exit_code = process.poll()
        _stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.fail(
            "Roster did not print 'listening on http://127.0.0.1:PORT' on stdout within "
            f"{BOOT_TIMEOUT_S:.0f}s (exit code {exit_code}).\n"
            f"--- stdout ---\n{''.join(stdout_lines)}--- stderr ---\n{''.join(stderr_lines)}",
            pytrace=False,
        )
    return RosterServer(url, secret_key, process, data_dir, stdout_lines, stderr_lines)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def roster() -> Iterator[RosterServer]:
    server = _boot()
    try:
        yield server
    finally:
        _stop(server.process)
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def clerk(roster: RosterServer) -> Iterator[Clerk]:
    with make_clerk(roster) as client:
        yield client


@pytest.fixture(scope="module")
def http(roster: RosterServer) -> Iterator[httpx.Client]:
    """A raw client for wire checks the SDK hides (headers, exact bodies, other API versions)."""
    with httpx.Client(
        base_url=roster.api_url,
        headers={"Authorization": f"Bearer {roster.secret_key}"},
        timeout=REQUEST_TIMEOUT_MS / 1000,
    ) as client:
        yield client


@pytest.fixture
def make_user(clerk: Clerk) -> Callable[..., models.User]:
    """Creates a user with a fresh email address unless the caller passes `email_address`."""

    def create(**kwargs) -> models.User:
        kwargs.setdefault("email_address", [new_email()])
        return clerk.users.create(**kwargs)

    return create
