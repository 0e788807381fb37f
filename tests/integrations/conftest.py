"""Django for the integration tests: one settings module, configured once per process."""

from __future__ import annotations

import django
import pytest
from django.conf import settings
from django.core.management import call_command

from arame.current import registry
from arame.django import get_app
from tests.integrations.django_site.settings import SETTINGS

if not settings.configured:
    settings.configure(**SETTINGS)
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


@pytest.fixture(autouse=True)
def _project_app_is_current() -> None:
    """As in a Django process, shared tasks publish through the project's App.

    Here other tests' Apps, made after Django started (the examples' at import), live on too.
    """
    registry.make_current(get_app())
