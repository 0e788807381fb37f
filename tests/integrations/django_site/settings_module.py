"""The test site's settings as a module, for ``DJANGO_SETTINGS_MODULE`` in subprocesses."""

from tests.integrations.django_site.settings import SETTINGS

globals().update(SETTINGS)
