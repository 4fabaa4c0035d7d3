"""The base URL ``scimgate run`` prints is the one the IdP must be given."""

from __future__ import annotations

import socket
from dataclasses import replace

from infra.config import Settings
from scimgate.processes import base_url


def test_the_printed_url_is_the_public_url_when_one_is_configured():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        plain = replace(Settings(), host="127.0.0.1", public_url="")
        assert base_url(plain, sock) == f"http://127.0.0.1:{port}"
        public = replace(plain, public_url="https://scim.example.com/idp")
        assert base_url(public, sock) == "https://scim.example.com/idp"
