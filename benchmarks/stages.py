"""Where a round trip's time goes: ``delay().get()`` against an idle worker, cut at the row's clocks.

Each call is cut into four stages by the caller's clock and the timestamps its result row
records (``started_at``: the worker's claim; ``finished_at``: the function's end), then the
floors of the same machine are timed alone (``floors.py``) and printed beside them:

- ``delay``: the caller's ``delay()`` (the PENDING row, then the message and its confirm);
- ``to_claim``: from ``delay()``'s return to the worker's claim (delivery, admission, claim);
- ``run``: from the claim to the function's end;
- ``to_wake``: from the function's end to ``get()``'s return (the outcome's commit, the
  notification, the caller woken).

The clocks are one machine's, so the stages add up to the round trip.

    .venv/bin/python benchmarks/stages.py --broker rabbitmq,redis -n 300
"""

from __future__ import annotations

import argparse
import statistics
import time

import common
import floors
import ours

STAGES = ("delay", "to_claim", "run", "to_wake", "total")


def measure(broker: str, n: int) -> dict[str, list[float]]:
    """``n`` round trips against an idle default worker; each stage's samples, in ms."""
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    with ours.idle_worker(broker, common.RESULTS["postgresql"]) as (app, add):
        for i in range(n):
            began = time.time()
            handle = add.delay(i, 1)
            sent = time.time()
            handle.get(timeout=10)
            woken = time.time()
            row = app.results.read(handle.id)
            claimed, finished = row.started_at.timestamp(), row.finished_at.timestamp()
            for stage, seconds in zip(
                STAGES,
                (sent - began, claimed - sent, finished - claimed, woken - finished, woken - began),
                strict=True,
            ):
                samples[stage].append(seconds * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="rabbitmq,redis", help="comma-separated names [rabbitmq,redis]")
    parser.add_argument("-n", type=int, default=300, help="round trips per broker [300]")
    args = parser.parse_args()
    for name in args.broker.split(","):
        samples = measure(common.BROKERS.get(name, name), args.n)
        medians = "  ".join(f"{stage} {statistics.median(samples[stage]):.2f}" for stage in STAGES)
        print(f"{name}: {medians}  (p50, ms)")
    found = floors.measure(1000)
    row, confirm, durable = (1000 / found[key] for key in ("row_quick", "confirm", "row_durable"))
    print(f"floors: PENDING row {row:.2f}, RabbitMQ confirm {confirm:.2f}, durable commit {durable:.2f} (ms)")


if __name__ == "__main__":
    main()
