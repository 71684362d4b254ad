# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Django's naive datetime text read as wall-clock time in the app's TIME_ZONE.

With ``USE_TZ = False`` Django stores a DateTimeField on SQLite as naive local text
(``2017-10-02 18:55:02``) and, on PostgreSQL, writes the same naive value into a
``timestamptz`` column with the session ``TimeZone`` set to ``TIME_ZONE`` and reads it back
``AT TIME ZONE`` that zone. A correct copy is therefore the instant PostgreSQL itself makes of
the text under ``SET TimeZone = TIME_ZONE``, and it is correct exactly when reading it back in
that zone gives the same wall-clock text.

Two kinds of local time need a decision (measured on PostgreSQL 15, and the rule of its
``DetermineTimeZoneOffset``: "in a spring-forward transition, prefer the before interpretation;
in a fall-back transition, prefer after"):

- Repeated hour (``ambiguous``, e.g. 01:30 on the night New York falls back): PostgreSQL takes
  the offset after the transition (Python ``fold=1``, the later instant). Either instant reads
  back as the same wall clock, which is all Django with ``USE_TZ = False`` ever sees, so these
  values load unchanged and are only counted.
- Skipped hour (``gap``, e.g. 02:30 on the night New York springs forward; 02:15 on Lord Howe
  Island, whose clocks move by half an hour): no instant reads back as that wall clock.
  PostgreSQL takes the offset before the transition (Python ``fold=0``), so the value reads
  back moved forward by the size of the gap (02:30 becomes 03:30). This changes data: the
  preflight reports every such value (table, column, count, samples) and the default policy is
  ``refuse``; ``shift_forward`` accepts PostgreSQL's reading, and the check then expects the
  shifted wall clock (`expected_wall_clock`).

With ``USE_TZ = True`` the text is UTC, there are no gaps or repeats, and nothing here applies.
"""

from __future__ import annotations

import datetime
import re

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9; the collection needs 3.11
    zoneinfo = None

UTC = datetime.timezone.utc
OK = "ok"
AMBIGUOUS = "ambiguous"
GAP = "gap"
GAP_POLICIES = ("refuse", "shift_forward")

_DATETIME_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


class WallClockError(ValueError):
    """A time zone or a datetime text that cannot be interpreted; the message says which."""


def zone(name):
    """The IANA zone NAME (``America/New_York``), or WallClockError naming it."""
    if zoneinfo is None:  # pragma: no cover
        raise WallClockError("zoneinfo is not available: Python 3.9 or newer is needed")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise WallClockError(
            "TIME_ZONE %r is not an IANA time zone known to this host: install the tzdata package "
            "(or the tzdata Python package) or fix the app's TIME_ZONE" % (name,)) from None


def parse_datetime(text):
    """Django's SQLite datetime text as a datetime; naive unless the text carries an offset."""
    if isinstance(text, datetime.datetime):
        return text
    match = _DATETIME_RE.match(str(text))
    if not match:
        raise WallClockError("%r is not a datetime Django wrote" % (text,))
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        value = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                  int(second or 0), micro)
    except ValueError as exc:
        raise WallClockError("%r is not a valid datetime (%s)" % (text, exc)) from None
    if offset:
        value = value.replace(tzinfo=_fixed_offset(offset))
    return value


def _fixed_offset(text):
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def classify(naive, tz):
    """OK, AMBIGUOUS (a repeated hour) or GAP (a skipped hour) for the wall clock NAIVE in TZ."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return OK
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return GAP if back != naive else AMBIGUOUS


def to_utc(value, tz):
    """The instant PostgreSQL makes of VALUE under ``SET TimeZone = TZ``, as an aware UTC datetime.

    Returns (instant, kind). Aware values keep their own offset (kind OK).
    """
    if value.tzinfo is not None:
        return value.astimezone(UTC), OK
    kind = classify(value, tz)
    # PostgreSQL: a gap takes the offset before the transition, a repeat the one after.
    fold = 1 if kind == AMBIGUOUS else 0
    return value.replace(tzinfo=tz, fold=fold).astimezone(UTC), kind


def wall_clock(instant, tz):
    """What Django with USE_TZ = False reads back: the naive local time of INSTANT in TZ."""
    return instant.astimezone(tz).replace(tzinfo=None)


def expected_wall_clock(value, tz):
    """The wall clock PostgreSQL gives back for VALUE (equal to VALUE unless it is in a gap)."""
    instant, _kind = to_utc(value, tz)
    return wall_clock(instant, tz)


class LocalTimeReport(object):
    """Counts skipped-hour and repeated-hour values per (table, column), with a few samples."""

    def __init__(self, max_samples=5):
        self.max_samples = max_samples
        self.found = {}

    def add(self, table, column, kind, text, key=None):
        if kind == OK:
            return
        entry = self.found.setdefault((table, column, kind), {"count": 0, "samples": []})
        entry["count"] += 1
        if len(entry["samples"]) < self.max_samples:
            entry["samples"].append({"value": str(text), "key": key})

    def check(self, table, column, text, tz, key=None):
        """Classify one source value and record it; returns its kind (OK for NULL)."""
        if text is None:
            return OK
        value = parse_datetime(text)
        kind = OK if value.tzinfo is not None else classify(value, tz)
        self.add(table, column, kind, text, key)
        return kind

    def entries(self, kind):
        """[{table, column, kind, count, samples}] for KIND, sorted by table and column."""
        return [dict(table=table, column=column, kind=found_kind, **entry)
                for (table, column, found_kind), entry in sorted(self.found.items())
                if found_kind == kind]

    def problems(self, gap_policy="refuse"):
        """Human lines for the gaps a run must refuse (empty when the policy accepts them)."""
        if gap_policy not in GAP_POLICIES:
            raise WallClockError("gap policy must be one of %s, not %r" % (", ".join(GAP_POLICIES), gap_policy))
        if gap_policy != "refuse":
            return []
        template = ("%s.%s: %d value(s) in a skipped local hour of TIME_ZONE (e.g. %s): PostgreSQL would read "
                    "them back moved forward by the clock change. Correct them in the app, or accept the shift "
                    "with the gap policy shift_forward.")
        return [template % (entry["table"], entry["column"], entry["count"],
                            ", ".join(s["value"] for s in entry["samples"]))
                for entry in self.entries(GAP)]
