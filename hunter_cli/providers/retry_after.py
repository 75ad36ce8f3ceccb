"""Reading a server's Retry-After: how long it asked us to wait, as seconds from now; and
telling a 429 that means "slow down" from one that means "your allowance is used up"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    # Here, not at the top: hunter.toml's check loads this module, and dates are rare.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms` (OpenAI-style servers send it) or else `retry-after`."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


# A 429 that says the account's allowance is used up (Hunter's "You have reached your monthly
# usage limit", OpenAI's "You exceeded your current quota") rather than "slow down": no wait
# a run can make helps, so it is not retried. Wording about seconds, minutes or hours, or a
# rate limit, is the other kind.
_QUOTA_WORDS = re.compile(r"month|quota|usage limit|daily|per day|credits|billing", re.I)
_RATE_WORDS = re.compile(r"second|minute|hour|rate.limit|too many requests", re.I)


def quota_used_up(status: int, retry_after: float | None, said: str) -> bool:
    """A 429 without Retry-After whose text says the quota (monthly, daily, credits) is used
    up. With a Retry-After the server knows when it lifts, and that wait is honoured."""
    return (
        status == 429
        and retry_after is None
        and bool(_QUOTA_WORDS.search(said))
        and not _RATE_WORDS.search(said)
    )


def describe_wait(seconds: float) -> str:
    """A wait a server asked for, for people: `30 s`, `15 min`, `6 h`, `2 days` (a date
    years away is 2.3e+09 s, which says nothing)."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    days = seconds / 86400
    return f"{days:.0f} days" if days < 3650 else "more than ten years"
