"""Broker and results URLs: which transport each names, drivers, errors and redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import arame
from arame.app import BROKER_ENV, RESULTS_ENV
from arame.transport import database_url, default_database_url, exposed_hosts, parse_broker_url, redact_url


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://localhost:6379/0", "redis"),
        ("rediss://localhost:6380/0", "redis"),
        ("sentinel://localhost:26379?master_name=main", "redis"),
        ("redis+cluster://localhost:7001,localhost:7002", "redis"),
        ("amqp://guest:guest@localhost:5672//", "amqp"),
        ("amqps://guest:guest@localhost:5671//", "amqp"),
        ("memory://", "memory"),
        ("sqla+sqlite:///broker.db", "sql"),
        ("sqla+postgresql://localhost/test", "sql"),
        ("sqla+mysql+pymysql://root@localhost/test", "sql"),
        ("sqlite:///broker.db", "sql"),
        ("postgresql://localhost/test", "sql"),
        ("mysql://root@localhost/test", "sql"),
    ],
)
def test_every_supported_broker_scheme_parses_to_its_transport(url: str, kind: str) -> None:
    assert parse_broker_url(url).kind == kind


def test_a_bare_postgresql_broker_url_gets_the_psycopg_driver() -> None:
    assert parse_broker_url("postgresql://localhost/test").url == "sqla+postgresql+psycopg://localhost/test"


def test_a_bare_mysql_broker_url_gets_the_pymysql_driver() -> None:
    assert parse_broker_url("mysql://root@localhost/test").url == "sqla+mysql+pymysql://root@localhost/test"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://localhost/test", "postgresql+psycopg://localhost/test"),
        ("postgres://localhost/test", "postgresql+psycopg://localhost/test"),
        ("mysql://root@localhost/test", "mysql+pymysql://root@localhost/test"),
        ("sqla+postgresql://localhost/test", "postgresql+psycopg://localhost/test"),
        ("postgresql+psycopg2://localhost/test", "postgresql+psycopg2://localhost/test"),
        ("mysql+mysqldb://root@localhost/test", "mysql+mysqldb://root@localhost/test"),
        ("sqlite:///results.db", "sqlite:///results.db"),
    ],
)
def test_a_results_url_is_normalised_to_an_sqlalchemy_url_with_a_driver(url: str, expected: str) -> None:
    assert database_url(url) == expected


def test_a_results_url_that_is_no_database_is_refused() -> None:
    with pytest.raises(arame.ConfigurationError, match="not a database URL"):
        database_url("redis://localhost/0")


def test_an_unknown_broker_scheme_is_refused_with_the_supported_ones_listed() -> None:
    with pytest.raises(arame.ConfigurationError) as caught:
        parse_broker_url("kafka://localhost:9092")
    message = str(caught.value)
    assert "'kafka://'" in message
    for scheme in ("redis://", "amqp://", "memory://", "sqla+", "sqlite:///", "postgresql://", "mysql://"):
        assert scheme in message


def test_a_mistyped_broker_scheme_gets_a_did_you_mean_hint() -> None:
    with pytest.raises(arame.ConfigurationError, match=r"did you mean redis://\?"):
        parse_broker_url("redsi://localhost:6379/0")


def test_a_broker_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(arame.ConfigurationError, match="has no scheme"):
        parse_broker_url("localhost:6379")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("amqp://u:secret@h//", "amqp://u:***@h//"),
        ("sqla+postgresql://u:secret@h/db", "sqla+postgresql://u:***@h/db"),
        ("redis://:secret@h/0", "redis://:***@h/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("sqlite:////var/lib/app/arame.db", "sqlite:////var/lib/app/arame.db"),
        ("postgresql://u@h/db?password=secret", "postgresql://u@h/db?password=***"),
        ("redis://h:6379/0?password=secret&ssl=true", "redis://h:6379/0?password=***&ssl=true"),
        ("mysql://u@h/db?charset=utf8&passwd=secret", "mysql://u@h/db?charset=utf8&passwd=***"),
        ("connection to h failed: password=secret host=h", "connection to h failed: password=*** host=h"),
    ],
)
def test_redact_url_hides_the_password_and_nothing_else(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_redact_url_hides_a_password_that_contains_an_at_sign() -> None:
    assert "ssword" not in redact_url("amqp://user:p@ssword@rabbit.internal//")


def test_the_parsed_broker_keeps_its_password_out_of_its_printable_form() -> None:
    spec = parse_broker_url("sqla+postgresql://u:secret@h/db")
    assert "secret" in spec.url
    assert "secret" not in spec.safe_url


@pytest.mark.parametrize(
    ("broker", "results"),
    [
        ("redsi://u:secret@h:6379/0", None),
        ("kafka://u:secret@h:9092", None),
        (None, "mongodb://u:secret@h/db"),
    ],
)
def test_an_app_with_a_bad_url_raises_a_configuration_error_that_hides_the_password(
    broker: str | None, results: str | None, tmp_path: Path
) -> None:
    with pytest.raises(arame.ConfigurationError) as caught:
        arame.App(
            broker=broker or "memory://",
            results=results or f"sqlite:///{tmp_path}/r.db",
        )
    assert "secret" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_broker_url_missing_its_scheme_does_not_print_its_password(tmp_path: Path) -> None:
    with pytest.raises(arame.ConfigurationError) as caught:
        arame.App(broker="user:secret@redis.internal:6379/0", results=f"sqlite:///{tmp_path}/r.db")
    assert "secret" not in str(caught.value)


def test_the_env_vars_are_used_when_no_url_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BROKER_ENV, "memory://")
    monkeypatch.setenv(RESULTS_ENV, f"sqlite:///{tmp_path}/env.db")
    app = arame.App()
    assert app.broker.kind == "memory"
    assert app.results_url == f"sqlite:///{tmp_path}/env.db"


def test_constructor_urls_win_over_the_env_vars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BROKER_ENV, "redis://localhost:6379/0")
    monkeypatch.setenv(RESULTS_ENV, f"sqlite:///{tmp_path}/env.db")
    app = arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/arg.db")
    assert app.broker.kind == "memory"
    assert app.results_url == f"sqlite:///{tmp_path}/arg.db"


def test_without_urls_or_env_vars_both_default_to_arame_db_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(BROKER_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    expected = f"sqlite:///{tmp_path}/arame.db"
    assert default_database_url() == expected
    app = arame.App()
    assert app.broker.kind == "sql"
    assert app.broker.safe_url == expected
    assert app.results_url == expected


def test_a_bad_url_in_an_env_var_is_refused_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BROKER_ENV, "redsi://:secret@localhost:6379/0")
    with pytest.raises(arame.ConfigurationError, match="did you mean redis") as caught:
        arame.App(results=f"sqlite:///{tmp_path}/r.db")
    assert "secret" not in str(caught.value)


def test_a_password_given_as_a_query_parameter_stays_out_of_every_printable_form(tmp_path: Path) -> None:
    url = "postgresql://u@127.0.0.1:1/db?password=secret"
    app = arame.App(broker=url, results=url)
    try:
        assert "secret" not in app.broker.safe_url
        assert "secret" not in app.results.safe_url
        assert "secret" not in repr(app)
        with pytest.raises(arame.ResultStoreError) as caught:
            app.results.counts()
        assert "secret" not in str(caught.value)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("url", "exposed"),
    [
        ("memory://", []),
        ("sqlite:///broker.db", []),
        ("redis://", []),
        ("redis://127.0.0.1:6379/0", []),
        ("redis://127.8.9.10:6379/0", []),
        ("amqp://guest:guest@localhost:5672//", []),
        ("amqp://guest:guest@[::1]:5672//", []),
        ("postgresql:///test?host=/var/run/postgresql", []),
        ("redis://10.0.0.7:6379/0", ["10.0.0.7"]),
        ("amqps://user:secret@rabbit.internal:5671//", ["rabbit.internal"]),
        ("sqla+postgresql://db.example/test", ["db.example"]),
        ("redis://127.0.0.1:6379/0;redis://[2001:db8::1]:6379/0", ["2001:db8::1"]),
        ("sentinel://127.0.0.1:26379;sentinel://s2:26379?master_name=main", ["s2"]),
        ("redis+cluster://127.0.0.1:7001,node-b:7002", ["node-b"]),
    ],
)
def test_a_broker_outside_loopback_is_told_from_one_this_machine_alone_reaches(
    url: str, exposed: list[str]
) -> None:
    assert exposed_hosts(parse_broker_url(url)) == exposed


@pytest.mark.parametrize(
    ("broker", "signed", "warned"),
    [
        ("redis://10.0.0.7:6379/0", False, True),
        ("redis://10.0.0.7:6379/0", True, False),
        ("redis://127.0.0.1:6379/0", False, False),
        ("memory://", False, False),
    ],
)
def test_a_worker_warns_at_start_when_a_broker_others_reach_takes_unsigned_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broker: str, signed: bool, warned: bool
) -> None:
    keys = {"k1": "secret"} if signed else None
    app = arame.App("exposed", broker=broker, results=f"sqlite:///{tmp_path}/r.db", signing_keys=keys)
    with caplog.at_level(logging.WARNING, logger="arame.worker_setup"):
        app.worker(["q"], 1)  # built, not started: nothing connects

    warnings = [record.getMessage() for record in caplog.records if record.name == "arame.worker_setup"]
    assert bool(warnings) == warned
    if warned:
        assert "10.0.0.7" in warnings[0]
        assert "no signing_keys are set: whoever can publish to it is trusted" in warnings[0]
