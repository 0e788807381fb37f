"""Publishing task messages to the broker."""

from arame.producers.producer import Producer

__all__ = ["Producer"]
