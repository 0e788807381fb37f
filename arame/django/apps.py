"""The Django app ``arame.django``: at start-up, the ``tasks`` modules and the project's App."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class ArameConfig(AppConfig):
    """Imports every installed app's ``tasks`` module, then creates the project's App."""

    name = "arame.django"
    label = "arame"
    verbose_name = "arame"

    def ready(self) -> None:
        """Discover tasks, create the App, and follow Django's default database (tests swap it).

        The App exists before any request: a ``@shared_task``'s first ``delay()`` publishes
        through it (a shared task binds to the App current when it is called).
        """
        from arame.django.config import project

        connection_created.connect(_follow_default_database, dispatch_uid="arame.django")
        post_migrate.connect(_create_tables, dispatch_uid="arame.django.tables")
        autodiscover_modules("tasks")
        project.create()


def _follow_default_database(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.alias == "default":
        from arame.django.config import project

        project.follow_database(connection.settings_dict)


def _create_tables(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``migrate`` creates arame's tables too, so the first ``delay()`` inside ``atomic()`` never
    creates them from another connection while the caller's transaction holds SQLite's lock."""
    if using == "default":
        from arame.coordination.fair_queues import FairRegistry
        from arame.django.config import project

        # The flow tables (dedup keys); opening the store creates the rest.
        FairRegistry.of(project.app.results).prepare()
