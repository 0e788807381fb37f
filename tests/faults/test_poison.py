"""Poison messages: each kind ends in ``<queue>.dead`` with its reason, and the worker keeps serving."""

from __future__ import annotations

import functools
import json
import pickle
import signal
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

import arame
from arame.message import TaskMessage
from arame.transport.connection import connect, kombu_queue
from tests.faults.conftest import TRANSPORTS
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, wait_until

WORKER_MAX_MESSAGE_SIZE = 4096


class Canary:
    """A pickle that, if anyone ever unpickles it, creates a file: proof that pickle was refused."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def publish_raw(
    stack: Stack,
    body: bytes,
    content_type: str,
    content_encoding: str = "binary",
    headers: dict[str, Any] | None = None,
) -> None:
    """Publish a body as it is, past arame's producer (which would never send such a thing)."""
    connection = connect(stack.spec)
    try:
        connection.Producer(auto_declare=False).publish(
            body,
            exchange="",
            routing_key=stack.queue,
            declare=[kombu_queue(stack.spec, stack.queue)],
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers or {},
            delivery_mode=2,
        )
    finally:
        connection.release()


def dead_letters(stack: Stack, count: int, within: float = 30) -> list[arame.transport.DeadLetter]:
    """Wait until the dead-letter queue holds ``count`` messages; return them."""

    def enough() -> list[arame.transport.DeadLetter]:
        found = stack.dead_letters()
        return found if len(found) >= count else []

    return wait_until(enough, within, f"{count} dead letter(s)")


@functools.cache
def zlib_bomb(mebibytes: int) -> bytes:
    """Zeros compressed as Kombu's ``compression="zlib"`` does, a MiB at a time (about 1,000:1)."""
    packer, chunk = zlib.compressobj(9), bytes(1024 * 1024)
    return b"".join(packer.compress(chunk) for _ in range(mebibytes)) + packer.flush()


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reasons(letters: list[arame.transport.DeadLetter]) -> list[str]:
    return sorted(letter.reason.split(":", 1)[0] for letter in letters)


def finish(stack: Stack, workers: Workers, worker: Any, tasks: Any = None) -> None:
    """A good task still succeeds; the worker is alive, stops cleanly, and leaves the queue empty."""
    good = (tasks or stack.tasks).add.delay(2, 3)
    wait_until(lambda: stack.state(good) == arame.SUCCESS, 30, "a good task published afterwards succeeded")
    assert stack.row(good).result == 5
    assert worker.alive(), workers.logs()
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, workers.logs()
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
def test_malformed_unknown_misfit_and_oversized_messages_are_dead_lettered_with_their_reason(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(max_message_size=WORKER_MAX_MESSAGE_SIZE)
    canary = stack.folder / "unpickled"
    publish_raw(stack, b"\xff\xfe{ not json", "application/json", "utf-8")
    publish_raw(stack, pickle.dumps(Canary(canary)), "application/x-python-serialize")
    schema_breaker = uuid.uuid4().hex
    publish_raw(
        stack, json.dumps({"v": 1, "id": schema_breaker, "args": []}).encode(), "application/json", "utf-8"
    )
    unknown = stack.producer.task(name="faults.nobody", queue=stack.queue)(lambda: None).delay()
    # Published around apply_async, which refuses such arguments: as another producer could.
    add = stack.tasks.add
    misfit = stack.producer.send(
        TaskMessage(id=uuid.uuid4().hex, task=add.name, args=(1, 2, 3), queue=add.queue)
    )
    oversized = stack.tasks.work.delay("x" * (2 * WORKER_MAX_MESSAGE_SIZE))  # the producer allows 1 MiB

    worker = workers.start(app_spec)
    letters = dead_letters(stack, 6)

    assert reasons(letters) == [
        "InvalidArguments",
        "MalformedMessage",
        "MalformedMessage",
        "MalformedMessage",
        "MessageTooLarge",
        "TaskNotRegistered",
    ], [letter.reason for letter in letters]
    by_id = {letter.task_id: letter.reason for letter in letters if letter.task_id}
    assert by_id[schema_breaker].startswith("MalformedMessage: the body has no string 'task'")
    assert by_id[unknown.id].startswith("TaskNotRegistered")
    assert by_id[misfit.id].startswith("InvalidArguments")
    assert by_id[oversized.id].startswith("MessageTooLarge")
    assert any("refused content type 'application/x-python-serialize'" in letter.reason for letter in letters)
    assert not canary.exists(), "a pickle was deserialised"
    for task_id, kind in [
        (schema_breaker, "MalformedMessage"),
        (unknown.id, "TaskNotRegistered"),
        (misfit.id, "InvalidArguments"),
    ]:
        row = wait_until(lambda t=task_id: stack.state(t) != arame.PENDING and stack.row(t), 30, "its row")
        assert (row.state, row.error_type) == (arame.FAILURE, kind)
    finish(stack, workers, worker)
    assert stack.runs.all() == [], "a poison message ran"


@pytest.mark.timeout(60)
def test_messages_without_a_valid_signature_are_dead_lettered_when_the_worker_requires_one(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(signing_keys={"k1": "the right secret"})
    unsigned = stack.tasks.work.delay("unsigned")
    other_key = stack.stand_ins(stack.app(signing_keys={"k2": "another secret"})).work.delay("other-key")
    wrong_secret = stack.stand_ins(stack.app(signing_keys={"k1": "a wrong secret"})).work.delay("forged")
    signed = stack.stand_ins(stack.app(signing_keys={"k1": "the right secret"}))
    odd_header = uuid.uuid4().hex  # a signature no HMAC comparison accepts as input
    body = json.dumps({"id": odd_header, "task": "faults.work", "args": ["odd"]}).encode()
    publish_raw(stack, body, "application/json", "utf-8", headers={"x-arame-signature": "k1:\u00e9"})

    worker = workers.start(app_spec)
    good = signed.work.delay("signed")
    wait_until(lambda: stack.state(good) == arame.SUCCESS, 30, "a correctly signed task succeeded")
    letters = dead_letters(stack, 4)

    by_id = {letter.task_id: letter.reason for letter in letters}
    assert set(by_id) == {unsigned.id, other_key.id, wrong_secret.id, odd_header}
    assert by_id[unsigned.id].startswith("BadSignature: the message is not signed")
    assert by_id[other_key.id].startswith("BadSignature: the message is signed with unknown key id 'k2'")
    assert by_id[wrong_secret.id].startswith("BadSignature: the signature (key id 'k1') does not match")
    assert by_id[odd_header].startswith("BadSignature: TypeError"), by_id[odd_header]
    assert stack.runs.counts("start") == {"signed": 1}
    finish(stack, workers, worker, signed)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("accepted", [False, True], ids=["compression-refused", "compression-accepted"])
def test_a_compression_bomb_is_dead_lettered_as_it_arrived_without_the_worker_growing(
    stack: Stack, workers: Workers, accepted: bool
) -> None:
    app_spec = stack.write_module(**({"accept_compressed": True} if accepted else {}))
    bomb = zlib_bomb(200)  # 200 MiB of zeros in about 200 KiB, under the 1 MiB max_message_size
    worker = workers.start(app_spec, pool="thread")
    worker.wait_consuming()
    before = memory_kib(worker.pid, "VmRSS")

    publish_raw(stack, bomb, "application/json", "utf-8", headers={"compression": "application/x-gzip"})
    [letter] = dead_letters(stack, 1)
    grew = memory_kib(worker.pid, "VmHWM") - before

    assert len(letter.body) == len(bomb), "the dead letter is not the body as it arrived"
    assert letter.body == bomb
    expected = "MessageTooLarge: decompressed" if accepted else "MalformedMessage: the body is compressed"
    assert letter.reason.startswith(expected), letter.reason
    assert grew < 32 * 1024, f"the worker grew by {grew} KiB"
    finish(stack, workers, worker)


@pytest.mark.timeout(90)
def test_a_task_that_kills_every_worker_ends_dead_lettered_after_max_deliveries(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE, max_deliveries=2)
    doomed = stack.tasks.die.delay("doomed")
    worker = workers.start(app_spec, pool="process")  # each death takes a child; the supervisor replaces it

    letters = dead_letters(stack, 1, within=2 * (SHORT_LEASE + 15))

    assert [(letter.task_id, letter.reason) for letter in letters] == [
        (doomed.id, "TooManyDeliveries: delivered 3 times (limit 2)")
    ]
    row = wait_until(lambda: stack.state(doomed) == arame.FAILURE and stack.row(doomed), 30, "its row")
    assert (row.state, row.error_type) == (arame.FAILURE, "TooManyDeliveries"), workers.logs()
    assert len(stack.runs.starts("doomed")) == 2
    finish(stack, workers, worker)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stack", [p for p in TRANSPORTS if p.id == "sqlite"], indirect=True)
@pytest.mark.parametrize("refusal", ["oversized", "badly-signed"])
def test_a_message_refused_unread_is_recorded_only_when_its_id_can_be_trusted(
    stack: Stack, workers: Workers, refusal: str
) -> None:
    good_producer = stack.tasks
    if refusal == "oversized":
        app_spec = stack.write_module(max_message_size=WORKER_MAX_MESSAGE_SIZE)
        refused = stack.tasks.work.delay("x" * (2 * WORKER_MAX_MESSAGE_SIZE))
    else:
        app_spec = stack.write_module(signing_keys={"k1": "the right secret"})
        refused = stack.stand_ins(stack.app(signing_keys={"k2": "another secret"})).work.delay("other-key")
        good_producer = stack.stand_ins(stack.app(signing_keys={"k1": "the right secret"}))
    worker = workers.start(app_spec)
    dead_letters(stack, 1)
    finish(stack, workers, worker, good_producer)

    row = stack.row(refused)
    if refusal == "oversized":
        assert (row.state, row.error_type) == (arame.FAILURE, "MessageTooLarge")
    else:
        # Deliberate: an unverified body's id is not trusted to mark a row (docs/guarantees.md).
        assert row.state == arame.PENDING
