"""The order of Bulk operations (RFC 7644 §3.7): request order, except that an operation waits for
the POST that declares a bulkId it references; references that cannot resolve fail at once."""

from __future__ import annotations

from api.bulk import _parse_operation, _Schedule


def ops(*raw):
    return [_parse_operation(index, operation) for index, operation in enumerate(raw)]


def post(bulk_id, *refs):
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id,
            "data": {"displayName": bulk_id, "members": [{"value": f"bulkId:{ref}"} for ref in refs]}}


def delete(ref):
    return {"method": "DELETE", "path": f"/Users/bulkId:{ref}"}


def declared(operations):
    return {op.bulk_id: op.index for op in operations if op.method == "POST" and op.bulk_id}


def run(operations, failing=()):
    """The indices in the order the schedule hands them out, with the POSTs in ``failing`` failing."""
    schedule, order = _Schedule(operations, declared(operations)), []
    while (picked := schedule.next()) is not None:
        op, circular = picked
        order.append((op.index, circular))
        if op.method == "POST" and op.bulk_id:
            (schedule.failed if op.bulk_id in failing or circular else schedule.resolved)(op.bulk_id)
    return order


def test_references_in_a_path_are_references():
    assert ops(delete("x"))[0].refs == {"x"}
    assert ops({"method": "PATCH", "path": "/Users/bulkId:y", "data": {"Operations": []}})[0].refs == {"y"}


def test_request_order_when_nothing_waits():
    assert run(ops(post("a"), post("b"), delete("a"))) == [(0, False), (1, False), (2, False)]


def test_an_operation_waits_for_a_later_post_it_references():
    assert run(ops(delete("later"), post("other"), post("later"))) == [(1, False), (2, False), (0, False)]


def test_undeclared_self_and_failed_references_are_handed_out_at_once_to_fail():
    assert run(ops(delete("nobody"), post("me", "me"))) == [(0, False), (1, False)]
    assert run(ops(delete("x"), post("x")), failing={"x"}) == [(1, False), (0, False)]


def test_a_cycle_is_broken_at_its_first_operation_and_what_waited_on_it_follows():
    assert run(ops(post("a", "b"), post("b", "a"), delete("a"))) == [(0, True), (1, False), (2, False)]


def test_mistyped_members_are_errors_of_their_operation():
    for raw in ({"method": 5, "path": "/Users"}, {"method": "POST", "path": ["/Users"]},
                {"method": "POST", "path": "/Users", "bulkId": {"a": 1}, "data": {}},
                {"method": "DELETE", "path": "/Users/1", "version": 3}, {"method": "PUT", "path": "/Users/1", "data": []},
                "not an object"):
        assert ops(raw)[0].error is not None, raw
    assert ops({"METHOD": "post", "PATH": "/Users", "BULKID": "q", "DATA": {}})[0].error is None



def test_a_long_chain_of_references_runs_from_its_end():
    raw = [post(f"c{i}", *(f"c{j}" for j in range(i + 1, min(i + 41, 300)))) for i in range(300)]
    assert [index for index, _ in run(ops(*raw))] == list(range(299, -1, -1))
