"""The read model's lock: reentrant, granted in arrival order, usable by threading.Condition; and the turns in
which the indexer holds it while applying a batch."""

from __future__ import annotations

import threading
import time

import pytest

from consumers.loop import Turns
from matcher.locks import FairRLock


def wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_it_is_reentrant_and_only_its_owner_releases_it():
    lock = FairRLock()
    with lock, lock:
        other: list[bool] = []
        thread = threading.Thread(target=lambda: other.append(lock.acquire(blocking=False)))
        thread.start()
        thread.join()
        assert other == [False]
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.acquire(blocking=False)
    lock.release()


def test_waiters_get_it_in_the_order_they_asked():
    lock = FairRLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for n in range(4):
        thread = threading.Thread(target=lambda n=n: (lock.acquire(), order.append(n), lock.release()))
        thread.start()
        wait_until(lambda n=n: len(lock._waiters) == n + 1)  # queued before the next one asks
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3]


def test_a_thread_taking_it_again_and_again_cannot_keep_a_waiter_out():
    lock = FairRLock()
    taken = [0]
    waiter_got_it_at: list[int] = []
    done = threading.Event()

    def greedy() -> None:  # what a stream of deal feeds does to the indexer
        while not done.is_set() and taken[0] < 1_000_000:
            with lock:
                taken[0] += 1

    def waiter() -> None:
        with lock:
            waiter_got_it_at.append(taken[0])
        done.set()

    first = threading.Thread(target=greedy)
    first.start()
    wait_until(lambda: taken[0] > 100)
    second = threading.Thread(target=waiter)
    second.start()
    wait_until(lambda: len(lock._waiters) == 1 or bool(waiter_got_it_at))
    queued_at = taken[0]
    second.join()
    first.join()
    assert waiter_got_it_at[0] <= queued_at + 1  # the next release handed it over


def test_a_wait_with_a_timeout_gives_up_and_leaves_the_queue():
    lock = FairRLock()
    lock.acquire()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(lock.acquire(timeout=0.05)))
    thread.start()
    thread.join()
    assert result == [False] and not lock._waiters
    lock.release()
    assert lock.acquire(blocking=False)


def test_a_wait_that_fails_leaves_no_waiter_behind_to_be_handed_the_lock():
    lock = FairRLock()
    lock.acquire()
    failed: list[BaseException] = []

    def bad_timeout() -> None:
        try:
            lock.acquire(timeout=-2)
        except ValueError as exc:
            failed.append(exc)

    thread = threading.Thread(target=bad_timeout)
    thread.start()
    thread.join()
    assert failed and not lock._waiters
    lock.release()
    assert lock.acquire(blocking=False)  # free, not handed to the thread that gave up


def test_a_condition_wait_lets_others_in_and_restores_the_nesting():
    lock = FairRLock()
    ready = threading.Condition(lock)
    flag: list[bool] = []

    def notifier() -> None:
        with ready:
            flag.append(True)
            ready.notify_all()

    with lock, ready:  # two levels deep
        threading.Thread(target=notifier).start()
        assert ready.wait_for(lambda: flag, timeout=5)
        assert lock._count == 2
    assert lock._owner is None


def test_a_batch_holds_the_lock_in_turns_and_lets_those_waiting_in_between():
    lock = FairRLock()
    entered: list[bool] = []
    waiter = threading.Thread(target=lambda: (lock.acquire(), entered.append(True), lock.release()))
    with Turns(lock, turn_s=60.0) as turns:
        waiter.start()
        wait_until(lambda: len(lock._waiters) == 1)
        turns.yield_if_due()  # still within the turn: the waiter waits
        assert not entered and lock._is_owned()
        turns.turn_s = 0.0
        turns.yield_if_due()  # the turn is over: the waiter goes first, then the batch goes on
        assert entered and lock._is_owned()
    waiter.join()
    assert lock._owner is None


def test_turns_let_go_of_the_lock_when_handling_fails():
    lock = FairRLock()
    with pytest.raises(ValueError), Turns(lock, turn_s=1.0):
        raise ValueError("a record the handler did not expect")
    assert lock._owner is None
