"""Taking messages off queues and running their tasks."""

from arame.consumers.admission import Admission, Poison
from arame.consumers.consumer import SHUTDOWN_TIMEOUT, Consumer
from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder
from arame.consumers.worker import Worker

__all__ = ["SHUTDOWN_TIMEOUT", "Admission", "Consumer", "Poison", "ResultRecorder", "Worker", "execute"]
