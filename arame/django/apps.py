"""The Django app ``arame.django``: autodiscovery of ``tasks`` modules at start-up."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.module_loading import autodiscover_modules


class ArameConfig(AppConfig):
    """Imports every installed app's ``tasks`` module once the apps are ready."""

    name = "arame.django"
    label = "arame"
    verbose_name = "arame"

    def ready(self) -> None:
        """Discover tasks, and follow Django's default database (the test runner swaps it)."""
        connection_created.connect(_follow_default_database, dispatch_uid="arame.django")
        autodiscover_modules("tasks")


def _follow_default_database(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.alias == "default":
        from arame.django.config import project

        project.follow_database(connection.settings_dict)
