"""Django and transactions: delay() inside atomic() (the outbox), and atomic tasks.

Each case runs in a fresh process, as a web process would: its first arame call is a
``delay()``; the worker then runs in the same process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import django
    from django.conf import settings

    folder, broker, queue, model = sys.argv[1:5]
    arame_settings = {"default_queue": queue, **({"broker": broker} if broker else {})}
    settings.configure(
        SECRET_KEY="tests", USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "arame.django", "tests.integrations.django_site.shop"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": folder + "/db.sqlite3"}},
        ARAME=arame_settings,
    )
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    import arame.django, arame.testing
    from tests.integrations.django_site.shop.tasks import find_model

    with transaction.atomic():
        ContentType.objects.create(app_label="outbox", model=model)
        kept = find_model.delay(model)
        seen_inside = arame.django.app.AsyncResult(kept.id).state  # from another connection
    try:
        with transaction.atomic():
            dropped = find_model.delay(model)
            raise RuntimeError("the view failed")
    except RuntimeError:
        pass
    arame.testing.run_until_empty(arame.django.app, [queue])
    app = arame.django.app
    print(json.dumps({
        "seen_inside": seen_inside,
        "kept": [app.AsyncResult(kept.id).state, app.AsyncResult(kept.id).result],
        "dropped": app.AsyncResult(dropped.id).state,
    }))
    """
)


@pytest.mark.parametrize(
    "broker",
    [
        pytest.param("", id="django-database"),
        pytest.param("redis://127.0.0.1:6379/14", id="redis", marks=pytest.mark.redis),
        pytest.param("amqp://guest:guest@127.0.0.1:5672//", id="amqp", marks=pytest.mark.rabbitmq),
    ],
)
def test_delay_inside_atomic_publishes_after_the_commit_and_never_on_a_rollback(
    broker: str, tmp_path: Path
) -> None:
    queue, model = f"outbox-{uuid.uuid4().hex[:12]}", f"order{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), broker, queue, model],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"seen_inside": "UNKNOWN", "kept": ["SUCCESS", model], "dropped": "UNKNOWN"}


ATOMIC_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import django
    from django.conf import settings

    folder, results, queue, model = sys.argv[1:5]
    settings.configure(
        SECRET_KEY="tests", USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "arame.django", "tests.integrations.django_site.shop"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": folder + "/db.sqlite3"}},
        ARAME={"default_queue": queue, **({"results": results} if results else {})},
    )
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.contrib.contenttypes.models import ContentType
    import arame, arame.django, arame.testing
    from tests.integrations.django_site.shop.tasks import create_model

    kept = create_model.delay(model)
    undone = create_model.delay(model + "x", fail=True)
    try:
        arame.testing.run_until_empty(arame.django.app, [queue])
    except arame.ConfigurationError as exc:
        print(json.dumps({"refused": str(exc)}))
        sys.exit(0)
    app = arame.django.app
    print(json.dumps({
        "states": [app.AsyncResult(kept.id).state, app.AsyncResult(undone.id).state],
        "saved": sorted(ContentType.objects.filter(app_label="atomic").values_list("model", flat=True)),
    }))
    """
)


def run_atomic_script(tmp_path: Path, results: str) -> dict[str, object]:
    queue, model = f"atomic-{uuid.uuid4().hex[:12]}", f"m{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-c", ATOMIC_SCRIPT, str(tmp_path), results, queue, model],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    seen["model"] = model
    return seen


def test_an_atomic_shared_task_saves_with_its_result_and_a_failure_undoes_its_save(tmp_path: Path) -> None:
    seen = run_atomic_script(tmp_path, "")
    assert seen["states"] == ["SUCCESS", "FAILURE"]
    assert seen["saved"] == [seen["model"]]


def test_a_worker_refuses_atomic_tasks_whose_results_are_outside_djangos_database(tmp_path: Path) -> None:
    seen = run_atomic_script(tmp_path, f"sqlite:///{tmp_path}/elsewhere.db")
    assert "atomic task(s)" in str(seen["refused"])
