"""Taking messages off queues and running their tasks."""

from arame.consumers.consumer import Consumer
from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder
from arame.consumers.worker import Worker

__all__ = ["Consumer", "ResultRecorder", "Worker", "execute"]
