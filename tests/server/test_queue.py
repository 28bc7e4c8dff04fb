"""The model queue: one answer at a time, a bounded wait, and requests that go away
leave without keeping the model busy (threads stand in for the server's workers)."""

from __future__ import annotations

import threading
import time

import pytest

from rag.server.answers import ModelQueue, QueueFull, Stoppable


def slow_stream(produced: list[str], started: threading.Event | None = None, pieces: int = 200):
    if started:
        started.set()
    for i in range(pieces):
        time.sleep(0.01)  # a token
        produced.append(str(i))
        yield f"{i} "


def test_a_full_queue_is_refused_with_retry_after():
    q = ModelQueue(limit=1)
    first, second = q.admit(), q.admit()
    assert (first.ahead, second.ahead) == (0, 1)
    with pytest.raises(QueueFull) as caught:
        q.admit()
    assert caught.value.status_code == 503 and caught.value.headers == {"Retry-After": "5"}
    Stoppable(q.turn(first, iter(["done"])), first, q).close()  # never started: leaves the queue
    assert q.admit().ahead == 1


def test_an_abandoned_stream_stops_the_model_and_frees_the_queue():
    q = ModelQueue(limit=4)
    produced: list[str] = []
    started = threading.Event()
    ticket = q.admit()
    running = Stoppable(q.turn(ticket, slow_stream(produced, started)), ticket, q)
    reader = threading.Thread(target=lambda: [None for _ in running])
    reader.start()
    started.wait(5)
    time.sleep(0.05)
    running.close()  # the client went away
    reader.join(5)
    stopped_at = len(produced)
    time.sleep(0.1)
    assert len(produced) == stopped_at < 200  # nothing generated for nobody
    waiting_ticket = q.admit()
    assert waiting_ticket.ahead == 0  # the model is free again
    assert list(Stoppable(q.turn(waiting_ticket, iter(["a", "b"])), waiting_ticket, q)) == ["a", "b"]


def test_a_waiting_request_whose_client_left_never_runs():
    q = ModelQueue(limit=4)
    produced: list[str] = []
    first = q.admit()
    running = Stoppable(q.turn(first, slow_stream(produced, pieces=30)), first, q)
    reader = threading.Thread(target=lambda: [None for _ in running])
    reader.start()
    ran: list[str] = []
    second = q.admit()
    waiting = Stoppable(q.turn(second, (ran.append(x) or x for x in ["never"])), second, q)
    waiter = threading.Thread(target=lambda: [None for _ in waiting])
    waiter.start()
    time.sleep(0.05)
    waiting.close()  # returns although the model is still busy
    waiter.join(1)
    assert not waiter.is_alive() and ran == []
    reader.join(5)
    assert q.admit().ahead == 0
