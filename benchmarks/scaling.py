"""Scaling: burst-worker throughput with ``-c 1`` and with ``-c C`` (2), and their ratio.

Runs the measurement of ``throughput.py`` (fresh process per run) alternately with one slot and
with ``--concurrency`` slots, ``--repeat`` times each, and prints the medians and their ratio.

    .venv/bin/python benchmarks/scaling.py --broker redis -n 10000
"""

from __future__ import annotations

import argparse

import common
import throughput


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run pair: ``-c 1`` then ``-c C`` on the same broker."""
    slots = args.concurrency
    args.concurrency = 1
    one = throughput.measure(args, broker, results)["rate"]
    args.concurrency = slots
    many = throughput.measure(args, broker, results)["rate"]
    return {"c1": one, f"c{slots}": many, "ratio": many / one}


if __name__ == "__main__":
    import sys

    slots = 2
    for i, a in enumerate(sys.argv):
        if a in ("-c", "--concurrency") and i + 1 < len(sys.argv):
            slots = int(sys.argv[i + 1])
    common.main(
        common.parser(__doc__.splitlines()[0], n=10_000, brokers="redis"),
        measure,
        [("c1", "{:7.0f}/s"), (f"c{slots}", "{:7.0f}/s"), ("ratio", "{:5.2f}x")],
    )
