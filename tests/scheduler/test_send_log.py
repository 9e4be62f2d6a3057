"""The engine's bot-wide limit (one process): messages counted as Telegram counts them, on arrival,
so a message still on its way keeps its place in the second it may arrive in."""

from __future__ import annotations

import pytest

from scheduler.delivery.limits import SendLog


def test_a_window_of_messages_then_one_per_message_that_left() -> None:
    log = SendLog(limit=4, window=1.0)
    sent = []
    now = 0.0
    while len(sent) < 8:
        wait = log.wait(now)
        if wait > 0:
            now += wait
            continue
        log.take(now)
        log.done(now + 0.01)  # answered 10 ms later
        sent.append(now)
    # Spaced a quarter of a second apart; the fifth waits until the first's answer is a second old.
    assert sent[:4] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert sent[4] == pytest.approx(1.01)
    assert all(later - earlier >= 0.25 - 1e-9 for earlier, later in zip(sent, sent[1:], strict=False))


def test_a_message_in_flight_counts_until_a_window_after_its_answer() -> None:
    log = SendLog(limit=2, window=1.0)
    log.take(0.0)
    log.take(0.5)
    assert log.wait(0.6) == pytest.approx(1.0)  # both on their way: nothing leaves before a window
    assert log.wait(5.0) == pytest.approx(1.0)  # however long they take
    log.done(5.0)
    assert log.wait(5.2) == pytest.approx(0.8)
    assert log.wait(6.0) == 0.0
    log.release()  # the other was not sent after all
    log.take(6.0)
    log.take(6.5)
    assert log.wait(6.5) == pytest.approx(1.0)


def test_one_late_message_may_be_followed_at_once_but_no_more_catching_up() -> None:
    log = SendLog(limit=10, window=1.0)
    log.take(0.0)
    log.take(3.0)  # late by far
    assert log.wait(3.0) == 0.0  # the next may follow at once
    log.take(3.0)
    assert log.wait(3.0) == pytest.approx(0.1)
