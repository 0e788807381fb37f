"""Sanitise: an outcome the results database refused, in a form it can store.

Used only after a refusal (the common path never pays for it): NUL bytes go (PostgreSQL refuses
them in text), names and types are cut to their columns, long texts are cut, a time no column
holds is dropped, an attempt count is kept within its column, and the row says what was
changed. A result that had to change is not stored as a success: its value would be wrong, so
the row reads FAILURE with the reason.
"""

from __future__ import annotations

from dataclasses import replace

from arame import states
from arame.message import MAX_NAME_LENGTH, is_epoch
from arame.states import Outcome

# Characters kept of a text: 4 bytes each at most in UTF-8, within MySQL's TEXT (65,535 bytes).
MAX_TEXT = 16_000
_NAMES = ("task_name", "queue", "error_type", "worker")
_TEXTS = ("error_message", "traceback")
_TIMES = ("started_at", "finished_at", "retry_at", "created")
MAX_ATTEMPTS = 2**31 - 1  # the results table's attempts column: a 32-bit integer


def sanitised(outcome: Outcome, refusal: str) -> Outcome:
    """``outcome`` with every text made storable, saying what changed and why.

    Args:
        outcome: the outcome the database refused.
        refusal: the database's reason, recorded on the row.
    """
    fixed: dict[str, str | None] = {name: _clean(getattr(outcome, name), MAX_NAME_LENGTH) for name in _NAMES}
    fixed |= {name: _clean(getattr(outcome, name), MAX_TEXT) for name in _TEXTS}
    changed = [name for name, value in fixed.items() if value != getattr(outcome, name)]
    numbers = _storable_numbers(outcome)
    changed += list(numbers)
    outcome = replace(outcome, **numbers)  # type: ignore[arg-type]
    why = _clean(refusal, 500)
    result = outcome.result_json
    if result is not None and len(result) > MAX_TEXT:
        # JSON cut short is not the value: the row cannot say SUCCESS.
        fixed["error_type"] = "UnstorableResult"
        fixed["error_message"] = (
            f"the return value ({len(result)} characters of JSON) could not be stored: {why}"
        )
        return replace(outcome, state=states.FAILURE, result_json=None, **fixed)  # type: ignore[arg-type]
    note = (
        f"[stored sanitised ({', '.join(changed) or 'nothing'} changed) after the database refused it: {why}]"
    )
    message = fixed["error_message"]
    fixed["error_message"] = f"{message}\n{note}" if message else note
    return replace(outcome, **fixed)  # type: ignore[arg-type]


def _storable_numbers(outcome: Outcome) -> dict[str, float | int | None]:
    """The times and the count of ``outcome`` that no column holds, made storable (a time: none)."""
    numbers: dict[str, float | int | None] = {
        name: None
        for name in _TIMES
        if getattr(outcome, name) is not None and not is_epoch(getattr(outcome, name))
    }
    if not 0 <= outcome.attempts <= MAX_ATTEMPTS:
        numbers["attempts"] = min(max(outcome.attempts, 0), MAX_ATTEMPTS)
    return numbers


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")  # visible, and storable everywhere
    return value if len(value) <= limit else value[: limit - 3] + "..."
