"""Print every date, time, datetime and decimal value of the demo app as Django reads it.

Run with the app's python inside the app directory, its settings from the environment
(DJANGO_ENV_FILE / DATABASE_URL / DJANGO_USE_TZ / DJANGO_TIME_ZONE). Prints one JSON object
{"vendor": ..., "values": {"<model label>.<field>": {"<pk>": "<value as Django returns it>"}}},
so the same program run against SQLite and against PostgreSQL must print the same values.
"""

from __future__ import annotations

import json
import os

import django

TYPES = ("DateTimeField", "DateField", "TimeField", "DecimalField")


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    django.setup()
    from django.apps import apps
    from django.db import connection

    values = {}
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if f.get_internal_type() in TYPES]
        if not fields:
            continue
        names = [f.attname for f in fields]
        for row in model._default_manager.order_by("pk").values_list("pk", *names).iterator():
            for name, value in zip(names, row[1:]):
                # isoformat keeps the offset of an aware datetime: a shifted instant shows.
                text = None if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
                values.setdefault("%s.%s" % (model._meta.label, name), {})[str(row[0])] = text
    print(json.dumps({"vendor": connection.vendor, "values": values}, sort_keys=True))


if __name__ == "__main__":
    main()
