"""Fractional ranks for board order.

A rank is a string of base-36 digits (``0-9a-z``) read as a fraction in (0, 1):
``"i"`` is 18/36. Plain string comparison (bytewise, and also under any common
collation, since all digits share one case) gives the board order, so a move
computes one new rank between its neighbours and writes one row.

Invariant: a rank never ends in ``"0"``. Otherwise a rank and the same rank
plus ``"0"`` would leave no string between them.

Appending to the end (the common case) and prepending to the top step the
first six digits by one instead of halving the gap, so a column of a million
appended tasks still has ranks of six or seven characters.
"""

from __future__ import annotations

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
STEP_WIDTH = 6
SUFFIX_WIDTH = 7
FIRST = "i"

_VALUE = {ch: i for i, ch in enumerate(DIGITS)}


def is_valid(rank: str) -> bool:
    return bool(rank) and rank[-1] != "0" and all(ch in _VALUE for ch in rank)


def _to_int(prefix: str) -> int:
    return int(prefix.ljust(STEP_WIDTH, "0"), BASE)


def _to_str(value: int) -> str:
    chars = []
    for _ in range(STEP_WIDTH):
        value, digit = divmod(value, BASE)
        chars.append(DIGITS[digit])
    return "".join(reversed(chars)).rstrip("0")


def after(rank: str | None) -> str:
    """A rank greater than ``rank`` (the end of a column when ``rank`` is its last)."""
    if rank is None:
        return FIRST
    value = _to_int(rank[:STEP_WIDTH]) + 1
    if value < BASE**STEP_WIDTH:
        # rstrip("0") keeps the invariant; stripping zeros does not change the order
        # against ``rank``, because the result's first six digits are already larger.
        return _to_str(value)
    return between(rank, None)


def before(rank: str | None) -> str:
    """A rank smaller than ``rank`` (the top of a column when ``rank`` is its first)."""
    if rank is None:
        return FIRST
    # One below the first six digits: smaller than ``rank`` and than any extension of it.
    value = _to_int(rank[:STEP_WIDTH]) - 1
    if value > 0:
        return _to_str(value)
    return between(None, rank)


def with_suffix(core: str, number: int) -> str:
    """``core`` plus a fixed-width tail made from the task's per-project number.

    Two writers that read the same neighbours compute the same ``core``; the
    number (unique in the project) keeps their ranks distinct, and since the
    tail has a fixed width, ranks built from different cores cannot collide
    either. The result stays strictly between the neighbours that ``core`` was
    computed for, because ``core`` already differs from them before its end.
    The tail ends in ``"i"`` to keep the no-trailing-zero invariant.
    """
    digits = []
    for _ in range(SUFFIX_WIDTH):
        number, digit = divmod(number, BASE)
        digits.append(DIGITS[digit])
    if number:
        raise ValueError("task number too large for a rank suffix")
    return core + "".join(reversed(digits)) + "i"


def between(low: str | None, high: str | None) -> str:
    """The shortest-ish rank strictly between ``low`` and ``high`` (``None``: open end)."""
    if low is not None and high is not None and not low < high:
        raise ValueError(f"ranks out of order: {low!r} >= {high!r}")
    low = low or ""
    out = []
    i = 0
    upper_open = high is None
    while True:
        lo_digit = _VALUE[low[i]] if i < len(low) else 0
        hi_digit = BASE if upper_open or i >= len(high) else _VALUE[high[i]]
        if lo_digit == hi_digit:
            out.append(DIGITS[lo_digit])
            i += 1
            continue
        mid = (lo_digit + hi_digit) // 2
        if mid > lo_digit:
            out.append(DIGITS[mid])
            return "".join(out)
        # Adjacent digits: keep low's digit; from here on anything above low fits.
        out.append(DIGITS[lo_digit])
        upper_open = True
        i += 1
