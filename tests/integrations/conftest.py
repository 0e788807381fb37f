"""Django for the integration tests: one settings module, configured once per process."""

from __future__ import annotations

import django
from django.conf import settings

from tests.integrations.django_site.settings import SETTINGS

if not settings.configured:
    settings.configure(**SETTINGS)
    django.setup()
