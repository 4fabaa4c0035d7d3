"""``scimgate log``: search an organization's provisioning log from the command line (the same
search as ``GET /api/v1/organizations/{id}/provisioning-log``, on the store directly)."""

from __future__ import annotations

import json
import sys

from scimgate.arguments import engine_for, settings_from

# CLI flag (its argparse dest) → the search's parameter name (``domain.provisioning_log``).
FLAGS = ("user", "team", "action", "outcome", "idp", "request_id", "command_id", "since", "until", "limit", "cursor")


def _line(entry: dict) -> str:
    from domain.events import escape_control

    resource = entry["resource"]
    what = "/".join(part for part in (resource.get("type"), resource.get("name") or resource.get("id")) if part)
    parts = [entry["time"], entry["action"], entry["outcome"], what or "-", entry["summary"]]
    if entry.get("suggestedFix"):
        parts.append(f"fix: {entry['suggestedFix']}")
    return "  ".join(escape_control(str(part), backslashes=False) for part in parts)


def cmd_log(args) -> int:
    from domain.provisioning_log import InvalidLogQuery, parse_query
    from infra.store.clock import utcnow
    from infra.store.provisioning_log import search

    params = {name: str(getattr(args, name)) for name in FLAGS if getattr(args, name, None) is not None}
    try:
        query = parse_query(params, now=utcnow(), org_id=args.org)
    except InvalidLogQuery as error:
        print(f"scimgate: {error}", file=sys.stderr)
        return 2
    engine = engine_for(settings_from(args))
    try:
        with engine.connect() as conn:
            page = search(conn, query)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(page.to_dict()))
        return 0
    for entry in page.entries:
        print(_line(entry))
    if not page.entries:
        print("no entries")
    if page.next_cursor:
        print(f"# more: add --cursor {page.next_cursor}")
    return 0


def add_log_command(sub, common) -> None:
    p = sub.add_parser("log", parents=[common], help="search an organization's provisioning log, newest first")
    p.add_argument("--org", required=True)
    p.add_argument("--user", help="a user's id, userName or externalId")
    p.add_argument("--team", help="a Team's id, displayName or externalId")
    p.add_argument("--action", help="e.g. scim:user:create")
    p.add_argument("--outcome", help="applied, unchanged, rejected, expired or refused")
    p.add_argument("--idp", help="okta, entra, …")
    p.add_argument("--request-id", dest="request_id")
    p.add_argument("--command-id", dest="command_id")
    p.add_argument("--since", help="ISO 8601 time, or relative: 30m, 24h, 7d")
    p.add_argument("--until", help="ISO 8601 time, or relative: 30m, 24h, 7d")
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor", help="the cursor a previous page printed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_log)
