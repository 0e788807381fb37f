"""Celery's settings, as ``app.conf`` and ``App(**settings)`` meet them in a ported project.

Each setting is mapped to the App option that does the same, accepted silently where its value
means what arame always does, or refused at once with what to do instead (as
``arame.celery_options`` does for ``@app.task``). docs/from-celery.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from arame.database import database_url, redact_url
from arame.errors import ConfigurationError, NotSupportedError
from arame.periodic import period
from arame.scheduler import PeriodicEntry, Schedule

if TYPE_CHECKING:
    from arame.app import App

_JSON = "arame speaks JSON only"
#: Settings whose value, when it is one of these, means what arame always does.
_SILENT: dict[str, tuple[object, ...]] = {
    "task_serializer": ("json",),
    "result_serializer": ("json",),
    "accept_content": (["json"], ("json",), {"json"}),
    "result_accept_content": (["json"], ("json",), {"json"}),
    "enable_utc": (True,),
    "task_acks_late": (True,),
    "task_track_started": (True,),
}
#: Celery settings arame has no setting for, and the arame way.
_REFUSED = {
    "task_routes": "give queue= to @app.task(...) or to apply_async",
    "task_annotations": "give the options to @app.task(...)",
    "task_time_limit": "give time_limit= to @app.task(...)",
    "task_soft_time_limit": "give soft_time_limit= to @app.task(...)",
    "task_default_rate_limit": "give rate_limit= to @app.task(...)",
    "worker_concurrency": "run arame worker -c N",
    "worker_prefetch_multiplier": "arame fetches what the worker's free slots can run; drop it",
    "task_create_missing_queues": "arame declares every queue it publishes to; drop it",
}


def results_url(backend: str) -> str:
    """The results URL for Celery's ``backend=`` / ``result_backend``: a SQL database only.

    Raises:
        ConfigurationError: a result backend that is not a SQL database (Redis, RPC...).
    """
    url = backend.removeprefix("db+")  # Celery's SQLAlchemy backend: db+postgresql://...
    try:
        database_url(url)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"backend={redact_url(backend)!r}: arame keeps results in a SQL database; give "
            "results= a SQLAlchemy URL (sqlite:///FILE, postgresql://HOST/DB, mysql://HOST/DB)"
        ) from exc
    return url


def beat_entries(app: App, schedule: Mapping[str, Mapping[str, Any]]) -> list[PeriodicEntry]:
    """The periodic entries of Celery's ``beat_schedule`` (``task``, ``schedule``, ``args``, ``kwargs``).

    Raises:
        ConfigurationError: an entry arame cannot run as written; the message says why.
    """
    entries = []
    for name, entry in schedule.items():
        extra = sorted(set(entry) - {"task", "schedule", "args", "kwargs"})
        if extra or "task" not in entry:
            raise ConfigurationError(
                f"beat_schedule[{name!r}]: arame reads task, schedule, args and kwargs"
                + (f", not {', '.join(extra)} (give queue= and such to @app.task)" if extra else "")
            )
        when = every_or_cron(app, entry.get("schedule"), f"beat_schedule[{name!r}]")
        args, kwargs = tuple(entry.get("args", ())), dict(entry.get("kwargs") or {})
        entries.append(PeriodicEntry(str(entry["task"]), when, args, kwargs))
    return entries


def every_or_cron(app: App, schedule: object, what: str) -> Schedule:
    """A Schedule from seconds, a timedelta or a cron string (Celery's ``crontab()`` is not read).

    Raises:
        ConfigurationError: anything else, naming what to give.
    """
    if isinstance(schedule, str):
        return Schedule(cron=schedule, timezone=app.timezone)
    if isinstance(schedule, (int, float, timedelta)) and not isinstance(schedule, bool):
        return Schedule(every=period(schedule, what), timezone=app.timezone)
    raise ConfigurationError(
        f"{what}: give seconds, a timedelta or a cron string such as '*/5 * * * *' (arame reads "
        f"no Celery crontab()), not {schedule!r}"
    )


def _set_broker_options(app: App, value: Mapping[str, Any]) -> None:
    app.broker_options = dict(value)
    app.configure(broker=app.broker_url)  # parsed again with the new options


def _set_beat_schedule(app: App, value: Mapping[str, Mapping[str, Any]]) -> None:
    app.periodic_entries.extend(beat_entries(app, value))


#: Celery settings that are plain App attributes: the attribute of each.
_ATTRIBUTES = {
    "timezone": "timezone",
    "result_expires": "result_expires",
    "task_default_queue": "default_queue",
    "task_always_eager": "immediate",
}
#: Celery settings that are App options set through a method: how to set each one.
_MAPPED: dict[str, Callable[[App, Any], None]] = {
    "broker_url": lambda app, value: app.configure(broker=value),
    "result_backend": lambda app, value: app.configure(results=results_url(value)),
    "broker_transport_options": _set_broker_options,
    "include": lambda app, value: app.include.extend(value),
    "imports": lambda app, value: app.include.extend(value),
    "beat_schedule": _set_beat_schedule,
}
#: What ``app.conf.<name>`` reads: the App attribute behind each setting.
_READ = {
    **_ATTRIBUTES,
    "broker_url": "broker_url",
    "result_backend": "results_url",
    "broker_transport_options": "broker_options",
    "include": "include",
    "imports": "include",
}


def known(name: str) -> bool:
    """Whether ``name`` is a Celery setting this module maps, accepts or refuses with a hint."""
    return name in _MAPPED or name in _ATTRIBUTES or name in _SILENT or name in _REFUSED


def check(name: str, value: object) -> None:
    """Refuse a setting arame does not take, before anything is changed.

    Raises:
        ConfigurationError: not a setting arame knows, or one it does not do; names the arame way.
    """
    if name in _MAPPED or name in _ATTRIBUTES:
        return
    if name in _SILENT:
        if any(value == accepted for accepted in _SILENT[name]):
            return
        hint = _JSON if "serializer" in name or "content" in name else "that is what arame always does"
        raise ConfigurationError(f"{name}={value!r} is a Celery setting; {hint}; drop it")
    if name in _REFUSED:
        raise ConfigurationError(f"{name} is a Celery setting; {_REFUSED[name]}")
    raise ConfigurationError(
        f"{name!r} is not a setting arame knows; it maps {', '.join(sorted({*_MAPPED, *_ATTRIBUTES}))} "
        "(see docs/from-celery.md)"
    )


class AppConf:
    """``app.conf``: Celery's settings, each set on the App option that does the same.

    ``app.conf.update(timezone="Europe/Paris")``, ``app.conf.task_default_queue = "q"`` and
    ``app.conf.beat_schedule = {...}`` work; a setting arame does not take fails at once.
    """

    __slots__ = ("_app",)

    def __init__(self, app: App) -> None:
        object.__setattr__(self, "_app", app)

    def update(self, settings: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Set several settings; none is set if one is refused.

        Raises:
            ConfigurationError: a setting arame does not take.
        """
        given = {**(settings or {}), **more}
        for name, value in given.items():
            check(name, value)
        for name, value in given.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        check(name, value)
        if name in _ATTRIBUTES:
            setattr(self._app, _ATTRIBUTES[name], value)
        elif name in _MAPPED:
            _MAPPED[name](self._app, value)

    def __getattr__(self, name: str) -> Any:
        if name in _READ:
            value = getattr(self._app, _READ[name])
            return value.copy() if isinstance(value, (dict, list)) else value  # set, never changed here
        where = "app.periodic_entries holds it" if name == "beat_schedule" else "not an App option"
        raise NotSupportedError(
            f"app.conf.{name} cannot be read ({where}); app.conf reads {', '.join(sorted(_READ))}"
        )
