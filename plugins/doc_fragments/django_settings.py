# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The option `django`: how the app reads its data, as pgmigrate.django.django_settings
    # returns it. Documented once here for every module that loads or compares values.
    DOCUMENTATION = r"""
options:
  django:
    description:
      - How the Django app reads its data, as the registered result of C(pgmigrate.django.django_settings)
        (or a dict of the same shape written by hand). Keys other than those below are ignored.
      - C(settings.use_tz) (bool) and C(settings.time_zone) (IANA name). With C(use_tz=false)
        Django's naive datetimes are wall-clock time in C(time_zone); they are loaded with the
        session C(TimeZone) set to it and compared as wall-clock time in it. C(use_tz=true)
        (and no O(django) at all) means naive datetimes are UTC.
      - C(settings.database) (dict with C(engine), C(name), C(host), C(port), C(vendor)) is the
        app's C(default) database, for messages only.
      - C(tables), a dict of tables, each a dict of columns, each a dict with C(field), C(internal_type),
        C(null), C(primary_key), C(max_digits) and C(decimal_places). C(internal_type) is Django's C(get_internal_type()) of the
        stored value (for a relation, that of the field it points to), e.g. C(DateTimeField),
        C(DateField), C(TimeField), C(DecimalField), C(DurationField), C(JSONField),
        C(UUIDField), C(BooleanField); C(max_digits) and C(decimal_places) are given for
        C(DecimalField) only. Tables and columns missing from it are handled by their
        PostgreSQL type, as without O(django).
    type: dict
"""

    # What to do with values Django would not read back the same (preflight, pgloader, consistency_check).
    POLICIES = r"""
options:
  decimal_overflow:
    description:
      - What to do with a DecimalField value of O(django) that has more decimal places than the field
        (C(F("price") * 1.1) leaves C(9077091.122) in a C(max_digits=12, decimal_places=2) column).
      - V(refuse) stops before anything is loaded, listing table, column, count and samples.
      - V(round) loads it as Django rounds it (C(format_number), ROUND_HALF_EVEN, not PostgreSQL's
        half away from zero), counts every rounded value in the result, and compares the rounded value.
      - A value with too many integer digits for C(max_digits) is refused either way.
    type: str
    choices: [refuse, round]
    default: refuse
  local_time_gap:
    description:
      - With C(USE_TZ=false), what to do with a DateTimeField value in a skipped local hour of
        C(TIME_ZONE) (02:30 on the night the clocks spring forward), which no instant reads back as.
      - V(refuse) stops before anything is loaded, listing table, column, count and samples.
      - V(shift_forward) loads it as PostgreSQL reads it in that zone, moved forward by the clock
        change (02:30 becomes 03:30), and the comparison expects the moved value.
      - A repeated hour (the night the clocks fall back) always reads back the same; it is only counted.
    type: str
    choices: [refuse, shift_forward]
    default: refuse
"""
