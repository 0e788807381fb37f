"""Django for the integration tests: one settings module, configured once per process."""

from __future__ import annotations

import django
from django.conf import settings
from django.core.management import call_command

from tests.integrations.django_site.settings import SETTINGS

if not settings.configured:
    settings.configure(**SETTINGS)
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
