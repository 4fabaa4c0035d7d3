"""The administrative commands of ``scimgate``: organizations, tokens, the SCIM toggle, users and
Teams, the audit stream, dead letters (the management service on the SQL store, as the CLI)."""

from __future__ import annotations

import json

from scimgate.arguments import embedded_redis, engine_for, print_new_token, print_result, print_revoked, settings_from


# -- management (domain.management, on the SQL store) ----------------------------------------


def _management(args, use):
    """``use(management)``: the management service on the store named by ``args`` (CLI actor)."""
    from infra.store.unit_of_work import management_service

    engine = engine_for(settings_from(args))
    try:
        return use(management_service(engine))
    finally:
        engine.dispose()


def cmd_org_create(args) -> int:
    org = _management(args, lambda m: m.create_organization(args.name, args.tier))
    print_result({"id": org.id, "name": org.name, "tier": org.tier}, args.json, org.id)
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
    print_new_token(made, args.json, "token")
    return 0


def cmd_token_revoke(args) -> int:
    return print_revoked(_management(args, lambda m: m.revoke_token(args.id)), "token")


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

    settings = settings_from(args)
    redis_server = embedded_redis(settings)
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

    settings = settings_from(args)
    redis_server = embedded_redis(settings)
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
