"""Error types whose messages are meant for people, not for stack traces."""


class PneumoscopeError(Exception):
    """Base for every error whose message is shown to a user as it is."""


def fraction_problem(value: object, what: str, zero_allowed: bool = True) -> str | None:
    """Why ``value`` is not a usable share of cases (``what``: "held-out", "validation"...), in plain
    words, or ``None``: a number at least 0 (above 0 when ``zero_allowed`` is False) and below 1.
    The caller raises its own error type with the message."""
    import math

    lowest = "at least 0" if zero_allowed else "above 0"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"the {what} fraction must be a number {lowest} and below 1 (e.g. 0.25), not {value!r}"
    low_ok = number >= 0.0 if zero_allowed else number > 0.0
    if math.isnan(number) or not low_ok or number >= 1.0:
        return f"the {what} fraction must be {lowest} and below 1 (e.g. 0.25), not {value}"
    return None
