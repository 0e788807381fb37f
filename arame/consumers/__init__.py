"""Taking messages off queues and running their tasks."""

from arame.consumers.admission import Admission, Poison
from arame.consumers.consumer import Consumer
from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder
from arame.consumers.worker import Worker
from arame.consumers.worker_settings import SHUTDOWN_TIMEOUT, WorkerSettings

__all__ = [
    "SHUTDOWN_TIMEOUT",
    "Admission",
    "Consumer",
    "Poison",
    "ResultRecorder",
    "Worker",
    "WorkerSettings",
    "execute",
]
