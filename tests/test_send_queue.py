"""A session's outbound queue (gateway/send_queue.py): order, both bounds, the writer's and the reader's waits."""

from __future__ import annotations

import gc
from collections import deque

import trio
import trio.testing

from actors.outbound import DeviceEvent, Disconnect, Replay
from actors.wire import ConnectionEvent
from actors.wire.session import ConnectionStateChanged, KickDetail
from gateway.send_queue import SendQueue, size_of


def _drain(queue: SendQueue) -> list[object]:
    taken: list[object] = []
    while (item := queue.take()) is not None:
        taken.append(item)
    return taken


def test_items_leave_in_order_and_their_bytes_with_them() -> None:
    queue = SendQueue(8, 1024)
    replay = Replay("alice", 0, 5, "D1")
    for item in (b"one", replay, b"three!"):
        assert queue.offer(item) is None
    assert (len(queue), queue.bytes) == (3, 9)
    assert queue.take() == b"one"
    assert queue.bytes == 6
    assert _drain(queue) == [replay, b"three!"]
    assert (len(queue), queue.bytes) == (0, 0)
    assert queue.take() is None


def test_an_event_counts_the_bytes_of_its_frame() -> None:
    event = DeviceEvent(ConnectionStateChanged(0, ConnectionEvent.TOKEN_EXPIRED, KickDetail()))
    assert size_of(event) == len(event.frame()) > 0
    assert size_of(Disconnect(4000, "policy")) == 0
    queue = SendQueue(8, 1024)
    queue.offer(event)
    assert queue.bytes == len(event.frame())


def test_a_full_queue_refuses_by_frames_and_changes_nothing() -> None:
    queue = SendQueue(2, 1024)
    assert queue.offer(b"a") is None and queue.offer(b"b") is None
    assert queue.refusal(b"c") == "frames"
    assert queue.offer(b"c") == "frames"
    assert (len(queue), queue.bytes) == (2, 2)
    assert _drain(queue) == [b"a", b"b"]


def test_bytes_are_bounded_too_but_a_lone_frame_always_fits() -> None:
    queue = SendQueue(100, 10)
    assert queue.offer(b"x" * 50) is None  # alone: larger than the bound, still taken
    assert queue.offer(b"y") == "bytes"
    assert queue.take() == b"x" * 50
    assert queue.offer(b"y" * 6) is None and queue.offer(b"z" * 4) is None  # exactly the bound
    assert queue.offer(b"w") == "bytes"
    assert (len(queue), queue.bytes) == (2, 10)


def test_the_bytes_bound_is_named_before_the_frames_bound() -> None:
    queue = SendQueue(1, 10)
    queue.offer(b"x" * 8)
    assert queue.offer(b"y" * 8) == "bytes"
    assert queue.offer(b"y") == "frames"


def test_an_emptied_queue_holds_no_buffer() -> None:
    queue = SendQueue(8, 1024)
    assert not [r for r in gc.get_referents(queue) if isinstance(r, deque)]
    queue.offer(b"a")
    assert [r for r in gc.get_referents(queue) if isinstance(r, deque)]
    queue.take()
    assert not [r for r in gc.get_referents(queue) if isinstance(r, deque)]


async def test_the_writer_waits_for_an_item_and_a_push_wakes_it() -> None:
    queue = SendQueue(8, 1024)
    got: list[object] = []

    async def writer() -> None:
        got.append(await queue.get())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            assert queue.writer_waiting and not got
            assert queue.offer(b"hello") is None
            assert not queue.writer_waiting
            assert len(queue) == 1  # still queued until the writer runs
    assert got == [b"hello"]
    assert (len(queue), queue.bytes) == (0, 0)


async def test_a_cancelled_writer_stops_waiting_and_later_pushes_queue_as_before() -> None:
    queue = SendQueue(8, 1024)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.get)
            await trio.testing.wait_all_tasks_blocked()
            assert queue.writer_waiting
            nursery.cancel_scope.cancel()
    assert not queue.writer_waiting
    assert queue.offer(b"later") is None
    assert _drain(queue) == [b"later"]


async def test_a_writer_with_items_waiting_takes_the_first() -> None:
    queue = SendQueue(8, 1024)
    queue.offer(b"a")
    queue.offer(b"b")
    with trio.fail_after(5):
        assert await queue.get() == b"a"
    assert _drain(queue) == [b"b"]


async def test_the_reader_waits_for_room_and_queues_once_an_item_leaves() -> None:
    queue = SendQueue(2, 1024)
    queue.offer(b"a")
    queue.offer(b"b")
    put_done = trio.Event()

    async def reader() -> None:
        await queue.put(b"reply")
        put_done.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert not put_done.is_set() and len(queue) == 2
            assert queue.take() == b"a"
            await put_done.wait()
    assert _drain(queue) == [b"b", b"reply"]


async def test_the_reader_ignores_the_bytes_bound() -> None:
    queue = SendQueue(4, 10)
    queue.offer(b"x" * 10)
    with trio.fail_after(5):
        await queue.put(b"y" * 10)
    assert (len(queue), queue.bytes) == (2, 20)


async def test_a_cancelled_put_queues_nothing() -> None:
    queue = SendQueue(1, 1024)
    queue.offer(b"a")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.put, b"never")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert _drain(queue) == [b"a"]
    assert queue.offer(b"b") is None
    assert _drain(queue) == [b"b"]
