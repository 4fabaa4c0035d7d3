"""Helpers of the dashboard tests: a signed-in HTTP client, the CSRF field of a page, operators."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.stack import REPO

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


def dashboard_client(stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Origin": stack.url}, timeout=30, follow_redirects=False)


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    """POST the sign-in form (with its CSRF field and cookie) as a browser would."""
    form = client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"token": token, "csrf": csrf_of(form.text)})


@contextmanager
def signed_in(stack, token: str) -> Iterator[httpx.Client]:
    with dashboard_client(stack) as client:
        response = sign_in(client, token)
        assert response.status_code == 303 and response.headers["Location"] == "/dashboard", response.text[:300]
        yield client


def new_operator(stack, name: str = "ops") -> dict:
    done = subprocess.run([sys.executable, "-m", "scimgate", "operator", "create", name, "--json"], env=stack.env,
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)
