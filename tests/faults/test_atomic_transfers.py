"""Atomic tasks under SIGKILL: a transfer's writes and its SUCCESS row commit together.

Accounts and a ledger live in the results database. A worker killed after a transfer's writes
but before its outcome makes the broker deliver the message again: an atomic transfer's writes
died with the worker's transaction, so it is applied once; a plain one's were committed, so it
is applied twice. Then 1,000 atomic transfers run while the worker group is killed again and
again: every one is applied exactly once and the balances add up.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

import arame
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, figure
from tests.helpers import wait_until

BANK_MODULE = '''
"""A bank's transfers, atomic and plain, for the fault tests."""

import os
import signal

import sqlalchemy as sa

import arame

app = arame.App("bank", lease_seconds={lease!r})  # URLs: $ARAME_BROKER_URL and $ARAME_RESULTS_URL
engine = sa.create_engine(os.environ["ARAME_RESULTS_URL"])
ACCOUNTS, LEDGER, MARKS, QUEUE = {accounts!r}, {ledger!r}, {marks!r}, {queue!r}


def apply(conn, transfer_id, src, dst, amount):
    move = f"UPDATE {{ACCOUNTS}} SET balance = balance + :amount WHERE id = :id"
    # The lower account id first, as any transfer must: two transfers locking the same two
    # rows in opposite orders deadlock, and the database ends one of them.
    for account, change in sorted([(src, -amount), (dst, amount)]):
        conn.execute(sa.text(move), {{"amount": change, "id": account}})
    conn.execute(sa.text(f"INSERT INTO {{LEDGER}} (transfer_id) VALUES (:t)"), {{"t": transfer_id}})


def die_once(transfer_id):
    """The first run dies here: after the writes, before the outcome is recorded."""
    mark = os.path.join(MARKS, transfer_id)
    if not os.path.exists(mark):
        open(mark, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="bank.transfer", queue=QUEUE, atomic=True)
def transfer(transfer_id, src, dst, amount, die=False):
    apply(arame.connection(), transfer_id, src, dst, amount)
    if die:
        die_once(transfer_id)


@app.task(name="bank.transfer_plain", queue=QUEUE)
def transfer_plain(transfer_id, src, dst, amount, die=False):
    with engine.begin() as conn:
        apply(conn, transfer_id, src, dst, amount)
    if die:
        die_once(transfer_id)
'''

ACCOUNTS = 10
OPENING = 10_000


@dataclass
class Bank:
    engine: sa.Engine
    accounts: sa.Table
    ledger: sa.Table

    def balances(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(self.accounts.c.id, self.accounts.c.balance)).all())

    def applied(self) -> Counter[str]:
        with self.engine.connect() as conn:
            return Counter(conn.execute(sa.select(self.ledger.c.transfer_id)).scalars())


@pytest.fixture
def bank(stack: Stack) -> Iterator[Bank]:
    """Accounts and a ledger in the stack's results database; the bank module beside the tasks."""
    engine = sa.create_engine(stack.results_url)
    suffix = uuid.uuid4().hex[:10]
    metadata = sa.MetaData()
    accounts = sa.Table(
        f"bank_accounts_{suffix}", metadata, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("balance", sa.Integer, nullable=False),
    )  # fmt: skip
    ledger = sa.Table(
        f"bank_ledger_{suffix}", metadata, sa.Column("transfer_id", sa.String(40), nullable=False)
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(accounts.insert(), [{"id": i, "balance": OPENING} for i in range(ACCOUNTS)])
    marks = stack.folder / "marks"
    marks.mkdir()
    source = BANK_MODULE.format(
        lease=SHORT_LEASE, accounts=accounts.name, ledger=ledger.name, marks=str(marks), queue=stack.queue
    )
    (stack.folder / "bankmod.py").write_text(source)
    yield Bank(engine, accounts, ledger)
    metadata.drop_all(engine)
    engine.dispose()


def declared(stack: Stack, name: str) -> arame.Task:  # type: ignore[type-arg]
    """The producer's stand-in for a task of the bank module."""
    return stack.producer.task(name=name, queue=stack.queue)(lambda *args, **kwargs: None)


@pytest.mark.parametrize(("task", "times_applied"), [("bank.transfer", 1), ("bank.transfer_plain", 2)])
def test_a_worker_killed_after_a_transfers_writes_applies_it_once_only_when_atomic(
    stack: Stack, workers: Workers, bank: Bank, task: str, times_applied: int
) -> None:
    handle = declared(stack, task).delay("t-1", 0, 1, 100, die=True)
    workers.start("bankmod:app", pool="process", concurrency=1)
    wait_until(lambda: stack.state(handle) == arame.SUCCESS, 60, f"{task} to succeed after the kill")
    assert bank.applied() == Counter({"t-1": times_applied})
    balances = bank.balances()
    assert (balances[0], balances[1]) == (OPENING - 100 * times_applied, OPENING + 100 * times_applied)


@pytest.mark.timeout(300)  # its own bound is 240 s: the suite's default 120 s cut it short under load
def test_a_thousand_atomic_transfers_survive_repeated_kills_exactly_once(
    stack: Stack, workers: Workers, bank: Bank
) -> None:
    transfer = declared(stack, "bank.transfer")
    rng = random.Random(7)
    plan = [(f"t-{i}", *rng.sample(range(ACCOUNTS), 2), rng.randint(1, 50)) for i in range(1000)]
    handles = transfer.map(plan)
    kills, started = 0, time.monotonic()
    worker = workers.start("bankmod:app", pool="process", concurrency=2)
    while not stack.all_in(handles, arame.SUCCESS):
        assert time.monotonic() - started < 240, "the transfers did not all finish"
        worker.wait_consuming()
        done = len(bank.applied())
        if stack.counts(handles).get(arame.FAILURE):
            failed = [h.id for h in handles if stack.state(h) == arame.FAILURE]
            raise AssertionError(
                f"{len(failed)} transfer(s) failed: {stack.row(failed[0])}\n{workers.logs()[-4000:]}"
            )
        wait_until(
            lambda done=done: len(bank.applied()) > done + 20 or stack.all_in(handles, arame.SUCCESS),
            60,
            "progress",
        )
        if kills < 5 and not stack.all_in(handles, arame.SUCCESS):
            worker.kill()  # mid-run: its children die in the middle of transfers
            kills += 1
            worker = workers.start("bankmod:app", pool="process", concurrency=2)
    applied = bank.applied()
    assert set(applied) == {transfer_id for transfer_id, *_ in plan}
    assert set(applied.values()) == {1}, [t for t, n in applied.items() if n != 1]
    expected = dict.fromkeys(range(ACCOUNTS), OPENING)
    for _, src, dst, amount in plan:
        expected[src] -= amount
        expected[dst] += amount
    assert bank.balances() == expected
    figure(f"atomic transfers on {stack.kind}: 1000 applied exactly once across {kills} kills")
