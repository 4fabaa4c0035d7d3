"""Which ingress process takes the next connection (``scimgate.connection_board.my_turn``)."""

from scimgate.connection_board import RETIRED, my_turn


def test_a_process_alone_always_takes_it():
    assert my_turn(0, [])
    assert my_turn(500, [])


def test_the_one_holding_fewest_takes_it_at_once_and_ties_both_try():
    assert my_turn(3, [4])
    assert my_turn(4, [4])
    assert not my_turn(5, [4])
    assert not my_turn(9, [12, 8, 20])
    assert my_turn(8, [12, 8, 20])


def test_a_retired_sibling_is_never_waited_for():
    assert my_turn(10_000, [RETIRED])
    assert not my_turn(3, [RETIRED, 2])
