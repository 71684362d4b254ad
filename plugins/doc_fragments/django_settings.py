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
