"""The Django app: settings, autodiscovery, manage.py arame, delay_on_commit, immediate mode."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import TestCase

import arame
from arame.django import get_app
from arame.testing import immediate
from tests.integrations.django_site.settings import FOLDER
from tests.integrations.django_site.shop import tasks

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return django_admin("arame", *args)


def django_admin(*args: str) -> subprocess.CompletedProcess[str]:
    """``django-admin ARGS`` on the test site, in a fresh process."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.integrations.django_site.settings_module"}
    env.pop("ARAME_BROKER_URL", None)
    env.pop("ARAME_RESULTS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_the_project_app_keeps_its_queue_and_results_in_djangos_database() -> None:
    app = get_app()
    expected = f"sqlite:///{os.path.join(FOLDER, 'db.sqlite3')}"
    assert (app.broker_url, app.results_url) == (expected, expected)


def test_shared_tasks_of_installed_apps_are_discovered_and_bound_to_the_project_app() -> None:
    assert "tests.integrations.django_site.shop.tasks.remember" in get_app().tasks


@pytest.mark.processes
def test_a_shared_tasks_delay_may_be_the_first_thing_a_fresh_process_does() -> None:
    # As a web process's first request: nothing touched arame.django.app before.
    first = "from tests.integrations.django_site.shop.tasks import remember; print(remember.delay(1).id)"
    done = django_admin("shell", "-c", first)
    assert done.returncode == 0, done.stderr
    assert get_app().AsyncResult(done.stdout.split()[-1]).state == arame.PENDING


@pytest.mark.processes
def test_manage_py_arame_worker_burst_runs_what_was_published_and_result_prints_it() -> None:
    handle = tasks.remember.apply_async(("from a view",), queue="default")
    worker = manage("worker", "--burst", "--pool", "thread", "-c", "1", "-Q", "default")
    assert worker.returncode == 0, worker.stderr
    assert handle.state == arame.SUCCESS
    shown = manage("result", handle.id)
    assert shown.returncode == 0, shown.stderr
    assert "SUCCESS" in shown.stdout and "from a view" in shown.stdout
    status = manage("status")
    assert status.returncode == 0, status.stderr


def test_a_task_published_on_commit_is_published_once_the_transaction_commits() -> None:
    task_id = uuid.uuid4().hex
    with transaction.atomic():
        tasks.remember.apply_async_on_commit(("committed",), task_id=task_id)
        assert get_app().AsyncResult(task_id).state == arame.UNKNOWN
    assert get_app().AsyncResult(task_id).state == arame.PENDING


def test_a_task_published_on_commit_is_never_published_when_the_transaction_rolls_back() -> None:
    task_id = uuid.uuid4().hex
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.remember.apply_async_on_commit(("rolled back",), task_id=task_id)
        raise RuntimeError("the view failed")
    assert get_app().AsyncResult(task_id).state == arame.UNKNOWN


class ImmediateModeInATestCase(TestCase):
    """A TestCase holds a transaction open on the SQLite file: a task must still run."""

    def test_a_task_published_after_a_write_runs_at_once_with_a_ready_result(self) -> None:
        ContentType.objects.create(app_label="shop", model="feedback")
        with immediate(get_app()):
            handle = tasks.remember.delay("in a test case")
            assert handle.state == arame.SUCCESS
            assert handle.get(timeout=1) == "in a test case"
        assert tasks.CALLS[-1] == "in a test case"
