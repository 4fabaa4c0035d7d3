"""The ``scimgate`` command line: its parser, and the service-process commands
(``scimgate/processes.py``); the administrative commands are in ``scimgate/admin.py``."""

from __future__ import annotations

import argparse
import sys

from infra.private_files import use_private_umask
from scimgate import processes
from scimgate.admin import (
    cmd_audit_tail, cmd_deadletters, cmd_org_create, cmd_org_list, cmd_scim, cmd_teams_list, cmd_teams_show,
    cmd_token_create, cmd_token_revoke, cmd_users_delete, cmd_users_list, cmd_users_show,
)
from scimgate.admin_log import add_log_command
from scimgate.admin_tokens import add_operator_commands, add_token_list_command
from scimgate.arguments import settings_from


# -- service processes (scimgate/processes.py) ----------------------------------------------


def cmd_serve(args) -> int:
    return processes.serve(settings_from(args), getattr(args, "inherit_socket", None), getattr(args, "board", None),
                           getattr(args, "slot", None))


def cmd_worker(args) -> int:
    return processes.worker(settings_from(args), getattr(args, "concurrency", None))


def cmd_migrate(args) -> int:
    processes.migrate(settings_from(args))
    print("migrations applied")
    return 0


def cmd_run(args) -> int:
    return processes.run(settings_from(args))


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
    run_parser = sub.choices["run"]
    run_parser.add_argument("--ingresses", type=int,
                            help="ingress processes sharing the port (SCIMGATE_INGRESSES, default one per core, at most 4)")
    # `scimgate run` hands its ingress children the socket it bound (internal).
    sub.choices["serve"].add_argument("--inherit-socket", type=int, help=argparse.SUPPRESS)
    # scimgate run's ingress children: the shared connection board (scimgate.accept_balance).
    sub.choices["serve"].add_argument("--board", type=int, help=argparse.SUPPRESS)
    sub.choices["serve"].add_argument("--slot", type=int, help=argparse.SUPPRESS)

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
    add_token_list_command(token, common)

    add_operator_commands(sub, common)

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

    add_log_command(sub, common)

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
