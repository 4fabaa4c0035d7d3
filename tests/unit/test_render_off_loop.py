"""A response carrying many members is rendered off the event loop; a light one on it."""

from __future__ import annotations

import threading

from api.resources import OFF_LOOP_ENTRIES, render_off_loop_if_heavy


async def test_a_member_heavy_response_is_built_in_another_thread_and_a_light_one_here():
    here = threading.get_ident()
    assert await render_off_loop_if_heavy(10, threading.get_ident) == here
    assert await render_off_loop_if_heavy(OFF_LOOP_ENTRIES + 1, threading.get_ident) != here
