"""The token commands of ``scimgate``: operators (``scimgate operator create|list|revoke``) and the
listing of an organization's tokens (``scimgate token list``). Tokens are shown once, when made;
listings show ids, roles and times, never a token or its hash."""

from __future__ import annotations

from scimgate.arguments import engine_for, print_new_token, print_revoked, print_table, settings_from


def _on_store(args, make_service, use):
    engine = engine_for(settings_from(args))
    try:
        return use(make_service(engine))
    finally:
        engine.dispose()


def _operators(args, use):
    from infra.store.unit_of_work import operator_service

    return _on_store(args, operator_service, use)


def cmd_operator_create(args) -> int:
    print_new_token(_operators(args, lambda ops: ops.create(args.name)), args.json, "operator")
    return 0


def cmd_operator_list(args) -> int:
    found = [operator.to_dict() for operator in _operators(args, lambda ops: ops.all())]
    print_table(found, args.json, {"ID": "id", "NAME": "name", "CREATED": "created", "LAST USED": "lastUsed",
                                   "REVOKED": "revoked"})
    return 0


def cmd_operator_revoke(args) -> int:
    return print_revoked(_operators(args, lambda ops: ops.revoke(args.id)), "operator")


def cmd_token_list(args) -> int:
    from infra.store.unit_of_work import management_service

    found = _on_store(args, management_service, lambda m: m.tokens(args.org))
    print_table(found, args.json, {"ID": "id", "ROLE": "role", "NAME": "name", "CREATED": "created",
                                   "LAST USED": "lastUsed", "REVOKED": "revoked"})
    return 0


def add_token_list_command(token, common) -> None:
    """``scimgate token list`` on the ``token`` subparsers."""
    p = token.add_parser("list", parents=[common], help="list an organization's tokens (never the tokens)")
    p.add_argument("--org", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_token_list)


def add_operator_commands(sub, common) -> None:
    """``scimgate operator …`` on the top-level subparsers ``sub``."""
    operator = sub.add_parser("operator", help="operators: the service's own ops team").add_subparsers(
        dest="operator_command", required=True)
    p = operator.add_parser("create", parents=[common], help="create an operator (its token shown once)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_operator_create)
    p = operator.add_parser("list", parents=[common], help="list operators (never their tokens)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_operator_list)
    p = operator.add_parser("revoke", parents=[common], help="revoke an operator by id")
    p.add_argument("id")
    p.set_defaults(func=cmd_operator_revoke)
