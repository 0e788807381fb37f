"""The worker registry and paused queues: which workers run, and the queues none may take from.

The rows live beside the results table (``arame.coordination``: ``WorkerBoard``, ``Pauses``);
``WorkerRegistry`` is the extension through which a worker registers, beats, and reads its
paused queues.
"""

from arame.registry.registration import WorkerRegistry

__all__ = ["WorkerRegistry"]
