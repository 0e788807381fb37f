"""Periodic tasks: schedules, and the scheduler that publishes their ticks once."""

from arame.scheduler.schedule import Schedule
from arame.scheduler.scheduler import Ledger, PeriodicEntry, Scheduler

__all__ = ["Ledger", "PeriodicEntry", "Schedule", "Scheduler"]
