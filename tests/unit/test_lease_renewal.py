"""The lease-renewing thread: its rhythm, its retries, and which channels it renews."""

from __future__ import annotations

import threading
import time

from arame.transport.renewal import HeldLeases, LeaseRenewer
from tests.helpers import wait_until


class Channel:
    """A channel that records when it was asked to renew, failing its first ``failures`` times."""

    lease_seconds = 1.2

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[float] = []
        self.failures = failures
        self.retiring = False
        self.released = threading.Event()

    def renew_leases(self) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise ConnectionError("broker unreachable")

    def retire(self) -> None:
        self.retiring = True

    def release_held(self) -> None:
        self.released.set()


def test_leases_are_renewed_every_third_of_a_lease_on_a_thread_of_their_own() -> None:
    channel = Channel()
    renewer = LeaseRenewer(channel.lease_seconds, lambda: [channel])
    renewer.start()
    try:
        wait_until(lambda: len(channel.calls) >= 3, 5, "three renewals")
    finally:
        renewer.stop()
    gaps = [b - a for a, b in zip(channel.calls, channel.calls[1:], strict=False)]
    assert all(0.35 <= gap < 0.8 for gap in gaps), gaps


def test_a_failed_renewal_is_tried_again_after_a_twelfth_of_the_lease() -> None:
    channel = Channel(failures=2)
    renewer = LeaseRenewer(channel.lease_seconds, lambda: [channel])
    renewer.start()
    try:
        wait_until(lambda: len(channel.calls) >= 3, 5, "two failed renewals and a good one")
    finally:
        renewer.stop()
    first, _, third = channel.calls[:3]
    assert third - first < 0.4  # two retries 0.1 s apart, not two renewals 0.4 s apart


def test_a_retired_channel_is_renewed_until_closing_gives_back_what_it_holds() -> None:
    leases = HeldLeases()
    old, new = Channel(), Channel()
    leases.attach(old)
    leases.retire()  # its connection was lost: what it delivered may still be running
    leases.attach(new)
    assert leases.channels() == [old, new] and old.retiring

    leases.release()

    assert old.released.is_set() and not old.retiring
    assert leases.channels() == []


def test_a_subscriber_told_not_to_renew_lets_its_leases_run_out() -> None:
    leases = HeldLeases(renew=False)
    channel = Channel()
    leases.attach(channel)
    time.sleep(channel.lease_seconds / 2)
    assert channel.calls == []
    leases.release()
