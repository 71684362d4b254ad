"""Insert one new row into every table of the demo app through the Django ORM, without ids.

Run inside examples/demo_app with DATABASE_URL set (see conftest.manage):
    python demo_orm_insert.py
Prints one JSON object {db_table: new primary key}. Every insert takes its id from the
table's sequence, so a sequence left behind the copied ids fails here with a duplicate key.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import sys

import django


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    django.setup()
    from django.apps import apps
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.auth.models import Group, Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone

    from inventory.models import Category, Comment, Event, Item, StockLevel, Tag, Warehouse

    created = {}
    with transaction.atomic():
        content_type = ContentType.objects.create(app_label="pgmigrate_test", model="probe")
        permission = Permission.objects.create(name="Can probe", codename="probe", content_type=content_type)
        group = Group.objects.create(name="pgmigrate probe group")
        group.permissions.add(permission)
        user = User.objects.create(username="pgmigrate_probe", password="!unusable")
        user.groups.add(group)
        user.user_permissions.add(permission)
        category = Category.objects.create(name="pgmigrate probe category", description="")
        tag = Tag.objects.create(name="pgmigrate-probe")
        item = Item.objects.create(
            name="probe", description="", category=category, price=decimal.Decimal("1.00"),
            warranty=datetime.timedelta(days=1), attributes={"probe": True}, thumbnail=b"\x00")
        item.tags.add(tag)
        event = Event.objects.create(item=item, kind="probe", payload={"ok": 1})
        # multi-table child: one new row in inventory_location (smallint identity) and one here
        warehouse = Warehouse.objects.create(name="probe", slug="pgmigrate-probe", capacity=1,
                                             gateway_ip="::ffff:192.0.2.1", opens_at=datetime.time(0, 0, 0, 1))
        stock = StockLevel.objects.create(item=item, warehouse=warehouse, on_hand=-1, bin_code="probe",
                                          units_sold=2 ** 63 - 1)
        comment = Comment.objects.create(content_object=warehouse, author_email="probe@example.com",
                                         remote_addr="::ffff:198.51.100.1", body="probe")
        created["inventory_location"] = warehouse.location_ptr_id
        log = LogEntry.objects.create(user=user, content_type=content_type, object_id=str(item.pk),
                                      object_repr="probe", action_flag=ADDITION, change_message="")
        Session.objects.create(session_key="pgmigrate-probe-session", session_data="{}",
                               expire_date=timezone.now() + datetime.timedelta(days=1))
        for obj in (content_type, permission, group, user, category, tag, item, event, log, warehouse, stock,
                    comment):
            created[obj._meta.db_table] = obj.pk
        through = {
            Group.permissions.through: {"group": group, "permission": permission},
            User.groups.through: {"user": user, "group": group},
            User.user_permissions.through: {"user": user, "permission": permission},
            Item.tags.through: {"item": item, "tag": tag},
        }
        for model, values in through.items():
            created[model._meta.db_table] = model.objects.get(**values).pk
        created[Session._meta.db_table] = "pgmigrate-probe-session"
    tables = sorted(m._meta.db_table for m in apps.get_models(include_auto_created=True))
    print(json.dumps({"created": created, "tables": tables}))


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main()
