"""Proxy headers (api/forwarded.py) and how the ingress applies them (api/origin.py): the public
scheme and host of generated URLs, and the client's address, believed only from trusted proxies."""

from __future__ import annotations

import ipaddress
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from api import origin
from api.forwarded import (
    client_address,
    forwarded_origin,
    is_trusted,
    parse_address,
    socket_host,
    valid_host,
    valid_proto,
)
from api.keys import SETTINGS
from infra.config import Settings, _networks, _public_url

LOOPBACK = _networks("127.0.0.1")
PROXIES = _networks("10.0.0.0/8, 2001:db8::/32")


# ---------------------------------------------------------------------------------------------
# Pure parsing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("scim.example.com", "scim.example.com"),
    ("SCIM.Example.COM:8443", "scim.example.com:8443"),
    ("localhost", "localhost"),
    ("localhost:1", "localhost:1"),
    ("example.com.", "example.com."),
    ("scim_gate:8080", "scim_gate:8080"),  # docker compose service names
    ("192.0.2.10", "192.0.2.10"),
    ("192.0.2.10:65535", "192.0.2.10:65535"),
    ("[2001:db8::1]", "[2001:db8::1]"),
    ("[::ffff:192.0.2.1]:443", "[::ffff:192.0.2.1]:443"),
])
def test_valid_hosts_are_kept(text, expected):
    assert valid_host(text) == expected


@pytest.mark.parametrize("text", [
    None, "", " ", "example.com ", " example.com", "exa mple.com", "example.com\r\nX-Evil: 1",
    "example.com\n", "evil.com/path", "evil.com?x", "evil.com#x", "user@evil.com", "user:pw@evil.com",
    "evil.com:", "evil.com:0", "evil.com:65536", "evil.com:99999", "evil.com:8o", "evil.com:80:80",
    "-evil.com", "evil-.com", "a..b", ".evil.com", "evil.com..", "ev!l.com", "evil.com;x", "%65vil.com",
    "[2001:db8::1", "2001:db8::1", "[2001:db8::zz]", "[fe80::1%25eth0]", "[evil.com]", "1.2.3.999",
    "999", "256.256.256.256", "a" * 64 + ".com", ".".join(["a" * 60] * 5), "évil.com", "<script>",
    "https://evil.com",
])
def test_invalid_hosts_are_refused(text):
    assert valid_host(text) is None


def test_proto_is_http_or_https_only():
    assert valid_proto("https") == "https" and valid_proto(" HTTPS ") == "https" and valid_proto("http") == "http"
    for bad in (None, "", "ftp", "javascript", "https://", "http,https"):
        assert valid_proto(bad) is None


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.1", "192.0.2.1"),
    (" 192.0.2.1 ", "192.0.2.1"),
    ("192.0.2.1:4711", "192.0.2.1"),
    ("2001:db8::1", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ('"[2001:db8::1]:4711"', "2001:db8::1"),
    ("[2001:db8::1]:_port", "2001:db8::1"),
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("unknown", None),
    ("_hidden", None),
    ("", None),
    (None, None),
    ("example.com", None),
    ("999.1.1.1", None),
])
def test_parse_address(text, expected):
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


def test_trust_is_by_network():
    assert is_trusted("10.1.2.3", PROXIES) and is_trusted("::ffff:10.1.2.3", PROXIES)
    assert is_trusted("2001:db8::5", PROXIES)
    assert not is_trusted("192.0.2.1", PROXIES) and not is_trusted(None, PROXIES)
    assert not is_trusted("unknown", PROXIES) and not is_trusted("10.1.2.3", ())


def test_socket_host():
    assert socket_host(("127.0.0.1", 8080)) == "127.0.0.1:8080"
    assert socket_host(("::1", 8080, 0, 0)) == "[::1]:8080"
    assert socket_host("/run/scimgate.sock") is None and socket_host(None) is None


def test_forwarded_headers_are_ignored_from_an_untrusted_peer():
    args = ([{"proto": "https", "host": "evil.com"}], ["https"], ["evil.com"])
    assert forwarded_origin("192.0.2.1", PROXIES, *args) == (None, None)
    assert forwarded_origin("10.0.0.1", (), *args) == (None, None)
    assert forwarded_origin(None, PROXIES, *args) == (None, None)


def test_x_forwarded_proto_and_host_from_a_trusted_peer():
    assert forwarded_origin("10.0.0.1", PROXIES, (), ["https"], ["scim.example.com"]) == ("https", "scim.example.com")
    # Several values (appended by several proxies): the nearest proxy's, the rightmost, counts.
    assert forwarded_origin("10.0.0.1", PROXIES, (), ["http, https"], ["evil.com", "scim.example.com"]) == (
        "https", "scim.example.com")
    assert forwarded_origin("10.0.0.1", PROXIES, (), ["https"], []) == ("https", None)
    assert forwarded_origin("10.0.0.1", PROXIES, (), [], []) == (None, None)


def test_invalid_forwarded_values_are_never_used():
    assert forwarded_origin("10.0.0.1", PROXIES, (), ["gopher"], ["evil.com/x"]) == (None, None)
    assert forwarded_origin("10.0.0.1", PROXIES, [{"proto": "x", "host": "a b"}], [], []) == (None, None)


def test_rfc7239_forwarded_from_a_trusted_peer():
    elements = [{"for": "192.0.2.60", "proto": "https", "host": "scim.example.com"}]
    assert forwarded_origin("10.0.0.1", PROXIES, elements) == ("https", "scim.example.com")
    # Forwarded wins over X-Forwarded-*; a field Forwarded lacks comes from X-Forwarded-*.
    assert forwarded_origin("10.0.0.1", PROXIES, elements, ["http"], ["other.example.com"]) == (
        "https", "scim.example.com")
    assert forwarded_origin("10.0.0.1", PROXIES, [{"for": "192.0.2.60", "proto": "https"}], [],
                            ["scim.example.com"]) == ("https", "scim.example.com")


def test_rfc7239_chain_is_believed_only_as_far_as_its_proxies_are_trusted():
    edge = {"for": "192.0.2.60", "proto": "https", "host": "scim.example.com"}
    inner = {"for": "10.0.0.2", "proto": "http", "host": "scimgate.internal"}
    # The edge (10.0.0.2, trusted) wrote the first element: the outermost trusted proxy wins.
    assert forwarded_origin("10.0.0.1", PROXIES, [edge, inner]) == ("https", "scim.example.com")
    # The element before an untrusted hop was written by someone we do not trust: ignored.
    forged = {"for": "192.0.2.60", "proto": "https", "host": "evil.com"}
    client_hop = {"for": "192.0.2.99", "proto": "http", "host": "scim.example.com"}
    assert forwarded_origin("10.0.0.1", PROXIES, [forged, client_hop]) == ("http", "scim.example.com")


def test_client_address_without_trusted_proxies_is_the_peer():
    assert client_address("192.0.2.1", (), (), ["203.0.113.9"]) == "192.0.2.1"
    assert client_address("192.0.2.1", PROXIES, (), ["203.0.113.9"]) == "192.0.2.1"
    assert client_address("::ffff:192.0.2.1", ()) == "192.0.2.1"
    assert client_address(None, PROXIES, (), ["203.0.113.9"]) == ""


def test_client_address_is_the_rightmost_untrusted_hop():
    assert client_address("10.0.0.1", PROXIES, (), ["203.0.113.9"]) == "203.0.113.9"
    # A client that sends its own X-Forwarded-For cannot choose its address.
    assert client_address("10.0.0.1", PROXIES, (), ["1.1.1.1, 203.0.113.9"]) == "203.0.113.9"
    assert client_address("10.0.0.1", PROXIES, (), ["1.1.1.1", "203.0.113.9, 10.0.0.7"]) == "203.0.113.9"
    assert client_address("10.0.0.1", PROXIES, (), ["2001:db8::9, 10.0.0.7"]) == "2001:db8::9"  # all trusted
    # Only trusted hops: the leftmost of them.
    assert client_address("10.0.0.1", PROXIES, (), ["10.0.0.8, 10.0.0.7"]) == "10.0.0.8"
    # No header at all: the proxy itself.
    assert client_address("10.0.0.1", PROXIES) == "10.0.0.1"


def test_client_address_stops_at_an_entry_that_is_no_address():
    assert client_address("10.0.0.1", PROXIES, (), ["203.0.113.9, garbage"]) == "10.0.0.1"
    assert client_address("10.0.0.1", PROXIES, (), ["garbage, 10.0.0.7"]) == "10.0.0.7"
    assert client_address("10.0.0.1", PROXIES, (), ["203.0.113.9,,10.0.0.7"]) == "10.0.0.7"


def test_client_address_from_rfc7239_for():
    elements = [{"for": "203.0.113.9"}, {"for": "[2001:db8::7]:4711"}]
    assert client_address("10.0.0.1", PROXIES, elements, ["198.51.100.1"]) == "203.0.113.9"
    assert client_address("10.0.0.1", PROXIES, [{"for": "_hidden"}]) == "10.0.0.1"
    # Forwarded without for= leaves the client to X-Forwarded-For.
    assert client_address("10.0.0.1", PROXIES, [{"proto": "https"}], ["198.51.100.1"]) == "198.51.100.1"


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def test_public_url_setting():
    assert _public_url("") == "" and _public_url("  ") == ""
    assert _public_url("https://scim.example.com/") == "https://scim.example.com"
    assert _public_url("https://example.com:8443/idp") == "https://example.com:8443/idp"
    for bad in ("scim.example.com", "ftp://x", "https://", "https://u:p@x.com", "https://x.com/?a=1",
                "https://x.com/#f", "https://x.com:99999", "https://x .com"):
        with pytest.raises(ValueError):
            _public_url(bad)


def test_trusted_proxies_setting():
    assert _networks("") == ()
    assert _networks("127.0.0.1, 10.0.0.0/8,::1") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert _networks("10.1.2.3/8") == (ipaddress.ip_network("10.0.0.0/8"),)
    with pytest.raises(ValueError):
        _networks("10.0.0.0/8, proxy.internal")


def test_settings_read_both_from_the_environment(monkeypatch):
    monkeypatch.setenv("SCIMGATE_PUBLIC_URL", "https://scim.example.com/")
    monkeypatch.setenv("SCIMGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    settings = Settings()
    assert settings.public_url == "https://scim.example.com"
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),)
    monkeypatch.delenv("SCIMGATE_PUBLIC_URL")
    monkeypatch.delenv("SCIMGATE_TRUSTED_PROXIES")
    assert Settings().public_url == "" and Settings().trusted_proxies == ()


# ---------------------------------------------------------------------------------------------
# The ingress: base_url and client_ip on a request
# ---------------------------------------------------------------------------------------------


def _request(headers: dict, *, peer="192.0.2.1", public_url="", trusted="", sockname=("127.0.0.1", 8080)):
    app = web.Application()
    app[SETTINGS] = Settings(public_url=_public_url(public_url), trusted_proxies=_networks(trusted))
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {
        "peername": (peer, 5555) if peer else None, "sockname": sockname,
    }.get(name, default)
    request = make_mocked_request("GET", "/scim/v2/org1/Users", headers=CIMultiDict(headers), app=app,
                                  transport=transport, match_info={"org_id": "org1"})
    return request


def test_base_url_reflects_a_valid_host():
    assert origin.base_url(_request({"Host": "scim.local:8080"})) == "http://scim.local:8080/scim/v2/org1"


def test_base_url_never_reflects_an_invalid_host():
    for host in ("evil.com/x?", "a b", "user@evil.com", "evil.com:99999"):
        assert origin.base_url(_request({"Host": host})) == "http://127.0.0.1:8080/scim/v2/org1"
    assert origin.base_url(_request({"Host": "evil.com/x"}, sockname=("::1", 9, 0, 0))) == "http://[::1]:9/scim/v2/org1"
    assert origin.base_url(_request({"Host": "evil.com/x"}, sockname=None)) == "http://localhost/scim/v2/org1"


def test_public_url_wins_over_everything():
    request = _request({"Host": "internal:8080", "X-Forwarded-Host": "evil.com", "X-Forwarded-Proto": "http"},
                       peer="10.0.0.1", trusted="10.0.0.0/8", public_url="https://scim.example.com/")
    assert origin.base_url(request) == "https://scim.example.com/scim/v2/org1"
    prefixed = _request({"Host": "internal"}, public_url="https://example.com/idp/")
    assert origin.base_url(prefixed) == "https://example.com/idp/scim/v2/org1"


def test_forwarded_headers_count_only_from_trusted_proxies():
    headers = {"Host": "internal:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "scim.example.com",
               "X-Forwarded-For": "203.0.113.9"}
    trusted = _request(headers, peer="10.0.0.1", trusted="10.0.0.0/8")
    assert origin.base_url(trusted) == "https://scim.example.com/scim/v2/org1"
    assert origin.client_ip(trusted) == "203.0.113.9"
    untrusted = _request(headers, peer="192.0.2.1", trusted="10.0.0.0/8")
    assert origin.base_url(untrusted) == "http://internal:8080/scim/v2/org1"
    assert origin.client_ip(untrusted) == "192.0.2.1"
    by_default = _request(headers, peer="127.0.0.1")
    assert origin.base_url(by_default) == "http://internal:8080/scim/v2/org1"
    assert origin.client_ip(by_default) == "127.0.0.1"


def test_rfc7239_forwarded_on_a_request():
    request = _request({"Host": "internal", "Forwarded": 'for="[2001:db8::9]:4711";proto=https;host=scim.example.com'},
                       peer="10.0.0.1", trusted="10.0.0.0/8")
    assert origin.base_url(request) == "https://scim.example.com/scim/v2/org1"
    assert origin.client_ip(request) == "2001:db8::9"


def test_an_invalid_forwarded_host_falls_back_to_the_host_header():
    request = _request({"Host": "internal:8080", "X-Forwarded-Host": "evil.com/#"}, peer="10.0.0.1",
                       trusted="10.0.0.0/8")
    assert origin.base_url(request) == "http://internal:8080/scim/v2/org1"
