"""Dump every row of the demo app through the Django ORM as canonical JSON lines.

Run inside examples/demo_app with SQLITE_PATH (SQLite) or DATABASE_URL (PostgreSQL) set:
    python demo_dump.py OUTFILE
Values are normalised only where the types differ by nature, never by tolerance: Decimal and
datetimes as text, bytes as hex, timedelta as microseconds, UUID as hex, and JSON numbers as
normalised Decimal text (jsonb keeps numbers as numeric: 1.5e300 comes back as an integer
literal and -0.0 as 0; JSON compares numbers by value), and GenericIPAddressField values as the
address they are (PostgreSQL's inet prints the IPv4-compatible '::c000:201' that Django wrote
as '::192.0.2.1': the same address; test_demo_every_field.py pins down exactly which texts differ).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import os
import sys
import uuid

import django


def canonical(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.astimezone(datetime.timezone.utc).isoformat() if value.tzinfo else value.isoformat()}
    if isinstance(value, (datetime.date, datetime.time)):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"timedelta_us": (value.days * 86400 + value.seconds) * 1000000 + value.microseconds}
    if isinstance(value, uuid.UUID):
        return {"uuid": value.hex}
    if isinstance(value, (bytes, memoryview, bytearray)):
        return {"bytes": bytes(value).hex()}
    raise TypeError("unexpected %r" % type(value))


def json_number(value):
    """JSON documents compared as JSON: every number as its exact decimal value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
        if number == 0:
            return {"n": "0"}  # jsonb has no negative zero
        with decimal.localcontext() as context:
            context.prec = 1000
            return {"n": str(number.normalize())}
    if isinstance(value, list):
        return [json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: json_number(v) for k, v in value.items()}
    raise TypeError("unexpected JSON %r" % type(value))


def ip_value(value):
    """An IP address by value (version and all its bits), whatever its spelling."""
    return None if value is None else {"ip": ipaddress.ip_address(value).exploded}


def main(out_path):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    django.setup()
    from django.apps import apps
    from django.db import connection, models

    counts = {}
    with open(out_path, "w", encoding="utf-8") as out:
        for model in sorted(apps.get_models(include_auto_created=True), key=lambda m: m._meta.db_table):
            fields = list(model._meta.concrete_fields)
            names = [f.attname for f in fields]
            json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
            ip_fields = {f.attname for f in fields if isinstance(f, models.GenericIPAddressField)}
            n = 0
            for row in model.objects.order_by("pk").values_list(*names).iterator(chunk_size=5000):
                record = [json_number(v) if name in json_fields else ip_value(v) if name in ip_fields
                          else canonical(v) for name, v in zip(names, row)]
                out.write(json.dumps([model._meta.db_table, record], ensure_ascii=False, sort_keys=True) + "\n")
                n += 1
            counts[model._meta.db_table] = n
    print(json.dumps({"vendor": connection.vendor, "counts": counts}))


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main(sys.argv[1])
