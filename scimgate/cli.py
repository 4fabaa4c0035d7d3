"""The ``scimgate`` command line: run the service, manage organizations and tokens, read audits."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from infra.config import Settings
from infra.private_files import use_private_umask
from scimgate import processes


def _settings(args) -> Settings:
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings = replace(settings, data_dir=Path(args.data_dir))
    if getattr(args, "database_url", None):
        settings = replace(settings, database_url=args.database_url)
    if getattr(args, "redis_url", None):
        settings = replace(settings, redis_url=args.redis_url)
    if getattr(args, "port", None):
        settings = replace(settings, port=args.port)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    return settings.resolved()


def _embedded_redis(settings: Settings):
    """Start the embedded Redis when no SCIMGATE_REDIS_URL was given; returns it (or None)."""
    return processes.embedded_redis(settings)


def _engine(settings: Settings):
    from infra.store.engine import make_sync_engine

    processes.migrate(settings)
    return make_sync_engine(settings.database_url)


def _print(payload: dict, as_json: bool, text: str) -> None:
    print(json.dumps(payload) if as_json else text)


# -- service processes (scimgate/processes.py) ----------------------------------------------


def cmd_serve(args) -> int:
    return processes.serve(_settings(args))


def cmd_worker(args) -> int:
    return processes.worker(_settings(args), getattr(args, "concurrency", None))


def cmd_migrate(args) -> int:
    processes.migrate(_settings(args))
    print("migrations applied")
    return 0


def cmd_run(args) -> int:
    return processes.run(_settings(args))


# -- management (domain.management, on the SQL store) ----------------------------------------


def _management(args, use):
    """``use(management)``: the management service on the store named by ``args`` (CLI actor)."""
    from infra.store.unit_of_work import management_service

    engine = _engine(_settings(args))
    try:
        return use(management_service(engine))
    finally:
        engine.dispose()


def cmd_org_create(args) -> int:
    org = _management(args, lambda m: m.create_organization(args.name, args.tier))
    _print({"id": org.id, "name": org.name, "tier": org.tier}, args.json, org.id)
    return 0


def cmd_org_list(args) -> int:
    orgs = _management(args, lambda m: m.organizations())
    if args.json:
        print(json.dumps([{"id": o.id, "name": o.name, "tier": o.tier, "scim_enabled": o.scim_enabled} for o in orgs]))
    else:
        for org in orgs:
            print(f"{org.id}\t{org.tier}\tSCIM {'on' if org.scim_enabled else 'off'}\t{org.name}")
    return 0


def cmd_token_create(args) -> int:
    made = _management(args, lambda m: m.create_token(args.org, args.role, name=args.name))
    if not args.json:  # the id on stderr: `TOKEN=$(scimgate token create …)` still gets the token
        print(f"token id: {made.id}", file=sys.stderr)
    _print({"token": made.token, "id": made.id}, args.json, made.token)
    return 0


def cmd_token_revoke(args) -> int:
    revoked = _management(args, lambda m: m.revoke_token(args.id))
    print("revoked" if revoked else "no such live token")
    return 0 if revoked else 1


def cmd_scim(args) -> int:
    org = _management(args, lambda m: m.set_scim(args.org, args.action == "enable"))  # audited like PUT /scim
    print(f"SCIM {'enabled' if org['scimEnabled'] else 'disabled'} for {org['id']}")
    return 0


def _yes_no(value) -> str:
    return "yes" if value else "no"


def cmd_users_list(args) -> int:
    result = _management(args, lambda m: m.users(args.org, args.page, args.page_size))
    if args.json:
        print(json.dumps(result))
        return 0
    print("ID\tUSERNAME\tDISPLAY NAME\tACTIVE\tIDP MANAGED\tTEAMS")
    for user in result["users"]:
        teams = ",".join(team["name"] for team in user["teams"])
        print(f"{user['id']}\t{user['userName']}\t{user['displayName'] or ''}\t{_yes_no(user['active'])}"
              f"\t{_yes_no(user['idpManaged'])}\t{teams}")
    shown = len(result["users"])
    print(f"# page {result['page']} ({shown} shown, {result['totalResults']} users in all; --page N for more)")
    return 0


def cmd_users_show(args) -> int:
    user = _management(args, lambda m: m.user(args.org, args.user_id))
    if args.json:
        print(json.dumps(user))
        return 0
    for label, key in (("id", "id"), ("userName", "userName"), ("displayName", "displayName"),
                       ("email", "email"), ("externalId", "externalId")):
        print(f"{label + ':':<14}{user[key] or ''}")
    print(f"{'active:':<14}{_yes_no(user['active'])}")
    print(f"{'idpManaged:':<14}{_yes_no(user['idpManaged'])}")
    teams = ", ".join(f"{team['name']} ({team['id']})" for team in user["teams"])
    print(f"{'teams:':<14}{teams or '-'}")
    return 0


def cmd_users_delete(args) -> int:
    result = _management(args, lambda m: m.delete_user(args.org, args.user_id))
    print(f"deleted user {result['id']} ({result['userName']}); removed from {len(result['removedFromTeams'])} Team(s)")
    return 0


def cmd_teams_list(args) -> int:
    result = _management(args, lambda m: m.teams(args.org, args.page, args.page_size))
    if args.json:
        print(json.dumps(result))
        return 0
    print("ID\tNAME\tIDP MANAGED\tMEMBERS\tACTIVE MEMBERS")
    for team in result["teams"]:
        print(f"{team['id']}\t{team['name']}\t{_yes_no(team['idpManaged'])}\t{team['memberCount']}"
              f"\t{team['activeMemberCount']}")
    print(f"# page {result['page']} ({len(result['teams'])} shown, {result['totalResults']} Teams in all)")
    return 0


def cmd_teams_show(args) -> int:
    team = _management(args, lambda m: m.team(args.org, args.team_id, args.page, args.page_size))
    if args.json:
        print(json.dumps(team))
        return 0
    print(f"{'id:':<14}{team['id']}")
    print(f"{'name:':<14}{team['name']}")
    print(f"{'idpManaged:':<14}{_yes_no(team['idpManaged'])}")
    print(f"{'members:':<14}{team['memberCount']} ({team['activeMemberCount']} active)")
    for member in team["members"]:
        state = "active" if member["active"] else "inactive"
        print(f"  {member['id']}\t{member['userName']}\t{state}")
    return 0


def _format_event(event: dict) -> str:
    """One line per event: every field's control characters escaped, so none can start a second
    (a backslash is left as it is: events escape theirs already)."""
    from domain.events import AUTH_THROTTLED, escape_control

    def text(value) -> str:
        return escape_control(value if isinstance(value, str) else str(value), backslashes=False)

    resource = f"{text(event.get('resource_type', ''))}/{text(event.get('resource_id', ''))}".strip("/")
    changed = ",".join(text(name) for name in event.get("changed", []))
    parts = [text(event.get("time", "")), text(event.get("action", "")), text(event.get("outcome", "")),
             f"org={text(event.get('org_id', ''))}"]
    if resource:
        parts.append(resource)
    if event.get("idp"):
        parts.append(f"idp={text(event['idp'])}")
    if event.get("status"):
        parts.append(f"status={text(event['status'])}")
    if changed:
        parts.append(f"changed={changed}")
    if event.get("action") == AUTH_THROTTLED and isinstance(event.get("detail"), dict):
        parts.append(f"source={text(event['detail'].get('source', ''))} count={text(event['detail'].get('count', ''))}")
    return "  ".join(parts)


def cmd_audit_tail(args) -> int:
    import redis

    from infra.redis.audit_stream import read_events

    settings = _settings(args)
    redis_server = _embedded_redis(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for _entry_id, event in read_events(
            client, settings.audit_stream, org_id=args.org, follow=args.follow, count=args.count
        ):
            print(json.dumps(event) if args.json else _format_event(event), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        if redis_server and redis_server.process is not None:
            redis_server.stop()
    return 0


def cmd_deadletters(args) -> int:
    """The commands set aside because they made the workers applying them fail, newest first."""
    import redis

    from infra.redis.deadletter import recent

    settings = _settings(args)
    redis_server = _embedded_redis(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        entries = recent(client, settings.queue_name, args.count)
    finally:
        client.close()
        if redis_server and redis_server.process is not None:
            redis_server.stop()
    for entry in entries:
        if args.json:
            print(json.dumps(entry))
        else:
            print(_format_event({**entry, "action": entry.get("kind", ""), "outcome": "dead-lettered"})
                  + f"  command={entry.get('command_id', '')}  request={entry.get('request_id', '')}"
                  f"  deliveries={entry.get('deliveries', '')}  reason={entry.get('reason', '')}")
    if not entries and not args.json:
        print("no dead-lettered commands")
    return 0


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scimgate", description="SCIM 2.0 provisioning service")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (SCIMGATE_DATA_DIR, default ./.scimgate)")
    common.add_argument("--database-url", help="store URL (SCIMGATE_DATABASE_URL, default SQLite in the data dir)")
    common.add_argument("--redis-url", help="Redis URL (SCIMGATE_REDIS_URL, default an embedded Redis)")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, text in (
        ("run", cmd_run, "run the whole service (ingress, worker, embedded Redis)"),
        ("serve", cmd_serve, "run the HTTP ingress only"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--port", type=int, help="HTTP port (SCIMGATE_PORT, default 8080)")
        p.add_argument("--host", help="listen address (SCIMGATE_HOST, default 127.0.0.1)")
        p.set_defaults(func=func)

    p = sub.add_parser("worker", parents=[common], help="run a Celery worker")
    p.add_argument("--concurrency", type=int, help="worker threads (SCIMGATE_WORKER_CONCURRENCY, default 1)")
    p.set_defaults(func=cmd_worker)
    sub.add_parser("migrate", parents=[common], help="apply database migrations").set_defaults(func=cmd_migrate)

    org = sub.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True)
    p = org.add_parser("create", parents=[common], help="create an organization")
    p.add_argument("name")
    p.add_argument("--tier", choices=["enterprise", "team"], default="enterprise")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_org_create)
    p = org.add_parser("list", parents=[common], help="list organizations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_org_list)

    token = sub.add_parser("token", help="Organization API tokens").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", parents=[common], help="create a token (shown once)")
    p.add_argument("--org", required=True)
    p.add_argument("--role", choices=["owner", "member"], required=True)
    p.add_argument("--name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("revoke", parents=[common], help="revoke a token by id")
    p.add_argument("id")
    p.set_defaults(func=cmd_token_revoke)

    scim = sub.add_parser("scim", help="turn SCIM provisioning on or off").add_subparsers(dest="action", required=True)
    for action in ("enable", "disable"):
        p = scim.add_parser(action, parents=[common])
        p.add_argument("--org", required=True)
        p.set_defaults(func=cmd_scim)

    users = sub.add_parser("users", help="an organization's users").add_subparsers(dest="users_command", required=True)
    teams = sub.add_parser("teams", help="an organization's Teams").add_subparsers(dest="teams_command", required=True)
    for group, noun, func in ((users, "users", cmd_users_list), (teams, "Teams", cmd_teams_list)):
        p = group.add_parser("list", parents=[common], help=f"list the organization's {noun} (one page)")
        p.add_argument("--org", required=True)
        p.add_argument("--page", type=int, default=1)
        p.add_argument("--page-size", type=int, default=100)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
    p = users.add_parser("show", parents=[common], help="show a user and their Teams")
    p.add_argument("--org", required=True)
    p.add_argument("user_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_users_show)
    p = users.add_parser("delete", parents=[common], help="remove a user from the organization and every Team")
    p.add_argument("--org", required=True)
    p.add_argument("user_id")
    p.set_defaults(func=cmd_users_delete)
    p = teams.add_parser("show", parents=[common], help="show a Team and its members (one page)")
    p.add_argument("--org", required=True)
    p.add_argument("team_id")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_teams_show)

    audit = sub.add_parser("audit", help="the audit stream").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("tail", parents=[common], help="print recent audit events")
    p.add_argument("--org")
    p.add_argument("--follow", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--count", type=int, default=100)
    p.set_defaults(func=cmd_audit_tail)

    p = sub.add_parser("deadletters", parents=[common], help="commands set aside because they crashed workers")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deadletters)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_private_umask()  # whatever a command creates (store, Redis files, data dir) is private
    try:
        return args.func(args)
    except Exception as error:
        from domain.management_errors import ManagementError

        if isinstance(error, ManagementError):
            print(f"scimgate: {error}", file=sys.stderr)
            return 2
        raise
