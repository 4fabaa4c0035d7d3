"""What a provisioning-log entry says in plain words (``summary``), and for the common failures
what the organization's admin should do about it (``suggested_fix``). Pure functions of an entry
as the log shows it (``infra.store.provisioning_log.entry_view``).

The failures with a fix: a uniqueness clash (409), a member that does not exist, a nested
Team, SCIM turned off, a token without the Owner role, a tier without SCIM, an operator token
at SCIM, an invalid or revoked token (401), a deadline passed (expired, 503), rate limiting
(429), a resource the IdP thinks exists but does not (404), a stale version (412), a value the
service cannot take (400), an internal error (500), and the management rules (SCIM-managed
Teams, Team names taken, the Enterprise tier).
"""

from __future__ import annotations

from domain import events as ev

NOUNS = {"User": "user", "Group": "Team", "Team": "Team", "Operator": "operator", "Token": "token",
         "Organization": "organization"}
DONE = {
    "create": "Created", "update": "Updated", "replace": "Replaced", "patch": "Updated", "delete": "Deleted",
    "deactivate": "Deactivated", "reactivate": "Reactivated", "rename": "Renamed", "revoke": "Revoked",
    "enable": "Turned SCIM on for", "disable": "Turned SCIM off for",
}
TRIED = {"patch": "update", "member:add": "add members to", "member:remove": "remove members from",
         "enable": "turn SCIM on for", "disable": "turn SCIM off for"}

TOKEN_HOW = ("make a new Owner token (scimgate token create --org ORG_ID --role owner, or POST "
             "/api/v1/organizations/ORG_ID/tokens) and paste it into the IdP's provisioning settings")


def _verb(action: str) -> str:
    """``scim:team:member:add`` → ``member:add``; ``org:token:create`` → ``create``."""
    parts = action.split(":")
    return ":".join(parts[2:]) if len(parts) > 3 and parts[2] == "member" else parts[-1]


def _what(entry: dict) -> str:
    resource = entry.get("resource") or {}
    noun = NOUNS.get(resource.get("type") or "", (resource.get("type") or "resource").lower())
    name = resource.get("name") or resource.get("id")
    return f"{noun} {name}" if name else noun


def _members(detail: dict) -> str:
    parts = []
    if detail.get("members_added"):
        parts.append(f"added {detail['members_added']} member(s)")
    if detail.get("members_removed"):
        parts.append(f"removed {detail['members_removed']} member(s)")
    return ", ".join(parts)


def _error_text(entry: dict) -> str:
    error = entry.get("error") or {}
    detail = entry.get("detail") or {}
    return str(error.get("detail") or detail.get("reason") or "")


def summary(entry: dict) -> str:
    """One sentence: what happened to what, and why it did not happen when it did not."""
    action, outcome = entry.get("action") or "", entry.get("outcome")
    detail = entry.get("detail") or {}
    what, verb = _what(entry), _verb(action)
    if action == ev.AUTH_THROTTLED:
        return (f"{detail.get('count', 'Some')} refused request(s) from {detail.get('source', 'one address')} were "
                "answered 429 (too many) and counted here")
    if outcome == ev.REFUSED:
        if detail.get("method"):
            return f"Refused {detail['method']} {detail.get('path', '')} ({entry.get('status')}): {_error_text(entry)}"
        return f"Refused: {TRIED.get(verb, verb)} {what} ({entry.get('status')}): {_error_text(entry)}"
    if outcome == "unchanged":
        return f"The IdP sent {what} again; nothing differed, nothing was changed"
    if outcome in ("rejected", ev.EXPIRED):
        why = "its deadline passed before a worker applied it" if outcome == ev.EXPIRED else _error_text(entry)
        return f"Not applied ({entry.get('status')}): {TRIED.get(verb, verb)} {what} — {why}; nothing was changed"
    if verb.startswith("member:"):
        sentence = f"{_members(detail) or verb.replace(':', ' ')} — {what}"
        return sentence[:1].upper() + sentence[1:]
    sentence = f"{DONE.get(verb, verb.capitalize())} {what}"
    changed = [name for name in entry.get("changed") or [] if name not in ("schemas",)]
    if changed and verb not in ("create", "delete"):
        sentence += f" (changed: {', '.join(changed[:8])}{'…' if len(changed) > 8 else ''})"
    members = _members(detail)
    return f"{sentence}; {members}" if members else sentence


def suggested_fix(entry: dict) -> str | None:
    """What the admin should do, for the failures that have a known remedy; None otherwise."""
    outcome, status = entry.get("outcome"), entry.get("status")
    if outcome in ("applied", "unchanged"):
        return None
    error = entry.get("error") or {}
    detail = entry.get("detail") or {}
    text = _error_text(entry).lower()
    code = detail.get("code")
    if entry.get("action") == ev.AUTH_THROTTLED or status == 429:
        return ("The sender was rate limited. An IdP retries by itself; if this keeps happening, lower the IdP's "
                "provisioning concurrency, and check that nothing else is calling with a wrong token")
    if code == "scim_managed":
        return ("SCIM provisioning is on, so the IdP owns this: make the change in the IdP (assign the user to the "
                "group there), or turn SCIM off first if the Team should be managed here")
    if code == "name_taken":
        return "Another Team already has this name (names are case-insensitive): pick another name, or use that Team"
    if code == "enterprise_tier_required" or "enterprise tier" in text:
        return "SCIM provisioning needs the Enterprise tier: move the organization to the Enterprise tier first"
    if error.get("scimType") == "uniqueness" or status == 409:
        return ("Another resource in this organization already has this userName (or this Team's displayName; "
                "names are case-insensitive). Find it (scimgate users list --org ORG_ID, or search this log by the "
                "name); then either delete the stale account, or in the IdP match the existing account (by "
                "userName or externalId) instead of creating a new one, or change the attribute mapping")
    if "nested groups" in text:
        return "Teams cannot contain Teams: in the IdP, push only users as members of this group"
    if "unknown user id" in text or "members must be users" in text:
        return ("A member the IdP sent is not a user of this organization (never provisioned, or deleted). Assign "
                "that user to the application in the IdP so it is provisioned first, then push the group again")
    if "operator token" in text:
        return "Operator tokens are for the ops dashboard and the log, never SCIM: configure the IdP with an " \
               "Organization API token with the Owner role"
    if status == 403 and "disabled" in text:
        return ("SCIM provisioning is turned off for this organization: turn it on (scimgate scim enable --org "
                "ORG_ID, or PUT /api/v1/organizations/ORG_ID/scim with {\"enabled\": true}); the IdP then retries")
    if status == 403 and "owner" in text:
        return f"The token has the Member role; SCIM needs an Owner token: {TOKEN_HOW}"
    if status == 401:
        return (f"The IdP's token is missing, mistyped, revoked or of another organization: {TOKEN_HOW}. Check "
                "that the SCIM base URL names this organization")
    if outcome == ev.EXPIRED or status == 503:
        return ("Nothing was changed: no worker applied the request before its deadline (workers down, or a long "
                "queue). The IdP retries; if it keeps happening, check that workers are running and the queue depth "
                "and oldest queued command on the ops dashboard")
    if status == 404:
        return ("The IdP refers to a resource that is not here (deleted here, or never provisioned). In the IdP, "
                "re-provision the user or group (e.g. Okta: 'Push now'; Entra: 'Provision on demand')")
    if status == 412:
        return "The IdP's copy was out of date (If-Match did not match); it reads the resource again and retries"
    if status == 500:
        return ("An internal error; nothing was applied. Send the operators this entry's request id so they can "
                "trace it; the IdP retries")
    if status == 400:
        return ("The IdP sent something that cannot be stored (see the error). Fix the attribute mapping for "
                "this attribute in the IdP, then retry provisioning for this resource")
    return None
