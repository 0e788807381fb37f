"""Settings of the example project. arame keeps its queue and results in the default database."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "site_config.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "arame.django", "feedback"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # A file, not SQLite's in-memory test database, which no worker connection can reach: so
        # the tests' tasks are enqueued in the views' transactions and atomic tasks hold, as here.
        "TEST": {"NAME": BASE_DIR / f"test-db-{os.environ.get('EXAMPLE_QUEUE', 'default')}.sqlite3"},
    }
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broker and results default to DATABASES["default"]; name either to move it, e.g. to Redis.
# (The tests set EXAMPLE_BROKER_URL and a queue of their own to run on a shared Redis server.)
QUEUE = os.environ.get("EXAMPLE_QUEUE", "default")
ARAME = {"default_queue": QUEUE}
if os.environ.get("EXAMPLE_BROKER_URL"):
    ARAME["broker"] = os.environ["EXAMPLE_BROKER_URL"]

# Django's own task framework (django.tasks on Django 6; the django-tasks backport on 5.2).
TASKS = {"default": {"BACKEND": "arame.django.TaskBackend", "QUEUES": sorted({"default", QUEUE})}}
