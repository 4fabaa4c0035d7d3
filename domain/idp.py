"""Which identity provider sent a request, from its User-Agent (and Entra's URL flag)."""

from __future__ import annotations

# (substring of the lower-cased User-Agent, IdP name); first match wins.
_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("okta", "okta"),
    ("azure ad scim", "entra"),
    ("microsoft", "entra"),
    ("onelogin", "onelogin"),
    ("jumpcloud", "jumpcloud"),
    ("rippling", "rippling"),
    ("pingidentity", "ping"),
    ("pingone", "ping"),
    ("pingfederate", "ping"),
    ("apache-httpclient", "ping"),  # PingFederate's SCIM connector
    ("google", "google"),
)


def identify_idp(user_agent: str | None, *, entra_flag: bool = False) -> str:
    agent = (user_agent or "").lower()
    for needle, name in _SIGNATURES:
        if needle in agent:
            return name
    if entra_flag:
        return "entra"
    return "unknown"
