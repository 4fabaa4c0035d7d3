"""The board of connection counts shared by ``scimgate run``'s ingress processes (a memfd)."""

import os

import pytest

from scimgate.connection_board import RETIRED, ConnectionBoard


def test_each_process_sees_its_siblings_counts_and_a_dead_ones_slot_is_retired():
    supervisor = ConnectionBoard.create(3)
    try:
        first, second = ConnectionBoard(supervisor.fd, 0), ConnectionBoard(supervisor.fd, 1)
        assert first.siblings() == [0, RETIRED]  # the third has not started yet
        first.publish(7)
        second.publish(5)
        assert first.siblings() == [5, RETIRED]
        assert second.siblings() == [7, RETIRED]
        third = ConnectionBoard(supervisor.fd, 2)  # a child started (or restarted) into its slot
        assert first.siblings() == [5, 0]
        supervisor.retire(1)  # the second died
        assert first.siblings() == [RETIRED, 0]
        assert third.siblings() == [7, RETIRED]
        third.retire_own()  # the third is stopping
        assert first.siblings() == [RETIRED, RETIRED]
    finally:
        os.close(supervisor.fd)


def test_a_slot_off_the_board_is_refused():
    supervisor = ConnectionBoard.create(2)
    try:
        with pytest.raises(ValueError):
            ConnectionBoard(supervisor.fd, 2)
    finally:
        os.close(supervisor.fd)
