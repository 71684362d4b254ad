"""Django tests for the API, the health check and generate_data.

Run with ``python manage.py test`` (Django's runner builds a throw-away database).
"""

# The test names say what each test checks.
# pylint: disable=missing-function-docstring

import base64
import hashlib
import json
from io import StringIO
from unittest import mock

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import TestCase, TransactionTestCase

from inventory import fielddata
from inventory.models import Category, Comment, Event, Item, Location, StockLevel, Tag, Warehouse


class ApiTests(TestCase):
    """CRUD over /api/items/."""

    @classmethod
    def setUpTestData(cls):
        cls.category = Category.objects.create(name="Küche", description="")

    def post(self, data, path="/api/items/", method="post"):
        return getattr(self.client, method)(
            path, data=json.dumps(data), content_type="application/json"
        )

    def new_item(self, **extra):
        data = {"name": "Tasse ☕", "category": self.category.pk, "price": "0.10", **extra}
        response = self.post(data)
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()

    def test_create_and_read_back_every_type(self):
        created = self.new_item(
            description="Grüße 🚀\nzweite Zeile",
            tags=["neu", "新品"],
            weight=0.30000000000000004,
            active=False,
            created_at="2024-02-29T23:59:59.999999Z",
            release_date="2000-02-29",
            warranty=-1.5,
            attributes={"z": [1, None, True], "a": {"χ": "🙂"}},
            thumbnail=base64.b64encode(b"\x00\x01\x00").decode(),
            note="",
        )
        got = self.client.get(f"/api/items/{created['id']}/").json()
        self.assertEqual(got, created)
        self.assertEqual(got["price"], "0.10")
        self.assertEqual(got["tags"], ["neu", "新品"])
        self.assertEqual(got["weight"], 0.30000000000000004)
        self.assertEqual(got["created_at"], "2024-02-29T23:59:59.999999+00:00")
        self.assertEqual(got["warranty"], "-P0DT00H00M01.500000S")
        self.assertEqual(got["note"], "")
        self.assertEqual(base64.b64decode(got["thumbnail"]), b"\x00\x01\x00")
        self.assertEqual(len(got["uuid"]), 36)

    def test_list_pages(self):
        for index in range(3):
            self.new_item(name=f"n{index}")
        page = self.client.get("/api/items/?limit=2&offset=1").json()
        self.assertEqual(page["count"], 3)
        self.assertEqual([item["name"] for item in page["results"]], ["n1", "n2"])

    def test_put_replaces_and_patch_updates(self):
        item = self.new_item(tags=["a"], note="x")
        url = f"/api/items/{item['id']}/"
        response = self.post(
            {"name": "neu", "category": self.category.pk, "price": 12345678.9}, url, "put"
        )
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["name"], body["price"], body["tags"]), ("neu", "12345678.90", []))
        self.assertIsNone(body["note"])  # PUT resets what it does not mention
        body = self.post({"warranty": "P1DT2H", "tags": ["b"]}, url, "patch").json()
        self.assertEqual(
            (body["name"], body["warranty"], body["tags"]), ("neu", "P1DT02H00M00S", ["b"])
        )

    def test_delete(self):
        item = self.new_item()
        Event.objects.create(item_id=item["id"], kind="created")
        url = f"/api/items/{item['id']}/"
        self.assertEqual(self.client.delete(url).status_code, 204)
        self.assertEqual(self.client.get(url).status_code, 404)
        self.assertFalse(Event.objects.exists())

    def test_bad_input_is_400_with_a_message(self):
        cases = [
            ({"name": "x"}, "missing required"),
            ({"name": "x", "category": self.category.pk, "price": "abc"}, "decimal"),
            ({"name": "x", "category": self.category.pk, "price": "1.234"}, "validation"),
            ({"name": "x", "category": 999, "price": "1"}, "does not exist"),
            ({"name": "x", "category": self.category.pk, "price": "1", "bogus": 1}, "unknown"),
            ({"name": "a\x00b", "category": self.category.pk, "price": "1"}, "NUL"),
            (
                {
                    "name": "x",
                    "category": self.category.pk,
                    "price": "1",
                    "created_at": "2024-13-01T00:00:00",
                },
                "datetime",
            ),
            (
                {"name": "x", "category": self.category.pk, "price": "1", "thumbnail": "!!"},
                "base64",
            ),
        ]
        for data, message in cases:
            with self.subTest(data=data):
                response = self.post(data)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(message, json.dumps(response.json()))
        for body in (b"{not json", b"[1]", b'{"price": NaN}'):
            response = self.client.post("/api/items/", data=body, content_type="application/json")
            self.assertEqual(response.status_code, 400, body)

    def test_duplicate_uuid_is_rejected(self):
        item = self.new_item()
        response = self.post(
            {"name": "y", "category": self.category.pk, "price": "1", "uuid": item["uuid"]}
        )
        self.assertEqual(response.status_code, 400)

    def test_wrong_method(self):
        response = self.client.delete("/api/items/")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response["Allow"], "GET, POST")


class HealthTests(TestCase):
    """/healthz."""

    def test_ok(self):
        body = self.client.get("/healthz").json()
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["vendor"], connection.vendor)
        self.assertEqual(body["items"], 0)

    def test_database_error_is_503_without_details(self):
        with (
            mock.patch.object(Item.objects, "count", side_effect=RuntimeError("secret")),
            self.assertLogs("demo_project.views", "ERROR"),
        ):
            response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["error"], "RuntimeError")
        self.assertNotIn(b"secret", response.content)


def table_digest():
    """sha256 over every row (with SQLite storage classes) of the app's tables."""
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for table in (
            "inventory_category",
            "inventory_tag",
            "inventory_item",
            "inventory_item_tags",
            "inventory_event",
            "inventory_location",
            "inventory_stocklevel",
            "inventory_comment",
        ):
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY id')  # fixed names
            for row in cursor.fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


class GenerateDataTests(TransactionTestCase):
    """generate_data writes its own transaction, so no TestCase wrapping."""

    def generate(self, *args):
        out = StringIO()
        call_command("generate_data", *args, stdout=out)
        return out.getvalue()

    def test_counts_sequence_and_determinism(self):
        summary = self.generate("--rows", "1000")
        self.assertIn("inventory_item=500", summary)
        first = table_digest()
        self.generate("--rows", "300", "--seed", "7")
        self.assertNotEqual(table_digest(), first)
        self.generate("--rows", "1000")
        self.assertEqual(table_digest(), first)
        self.assertEqual(
            (Category.objects.count(), Tag.objects.count(), Item.objects.count()), (20, 25, 500)
        )
        self.assertEqual(Item.tags.through.objects.count(), 250)
        # 1000 - 500 items - 250 links - 62 stock levels - 62 comments - 32 locations = 94
        self.assertEqual(Event.objects.count(), 91)
        self.assertEqual(
            (Location.objects.count(), Warehouse.objects.count(), StockLevel.objects.count()),
            (32, 30, 62),
        )
        self.assertEqual(Comment.objects.count(), 62)
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inventory_event'")
            self.assertEqual(cursor.fetchone()[0], 94)
        # The ORM reads every row back.
        self.assertEqual(len([item.attributes for item in Item.objects.all()]), 500)

    def test_refuses_other_databases(self):
        with (
            mock.patch.object(connections["default"], "vendor", "postgresql"),
            self.assertRaisesMessage(CommandError, "only writes SQLite"),
        ):
            self.generate("--rows", "10")


class EveryFieldDataTests(TransactionTestCase):
    """The rows of the every-field models read back through the ORM as Django would write them."""

    def setUp(self):
        call_command("generate_data", "--rows", "2000", stdout=StringIO())

    def test_values_are_what_the_orm_writes(self):
        for warehouse in Warehouse.objects.all():
            if warehouse.gateway_ip:
                field = Warehouse._meta.get_field("gateway_ip")
                self.assertEqual(field.get_prep_value(warehouse.gateway_ip), warehouse.gateway_ip)
        gateways = set(Warehouse.objects.values_list("gateway_ip", flat=True))
        self.assertEqual(gateways, set(fielddata.GATEWAY_IPS))
        remote = set(Comment.objects.values_list("remote_addr", flat=True))
        self.assertEqual(remote, set(fielddata.REMOTE_IPS))
        stock = StockLevel.objects.order_by("id")[:8]
        self.assertEqual([s.on_hand for s in stock], list(fielddata.ON_HAND))
        self.assertEqual([s.value_cents for s in stock], list(fielddata.VALUE_CENTS))
        self.assertEqual(str(stock[1].counted_at), "23:59:59.999999")

    def test_relations_resolve(self):
        item = Item.objects.get(pk=8)
        self.assertEqual(item.stock.item_id, 8)  # one-to-one, reverse side
        warehouse = Warehouse.objects.get(pk=3)
        self.assertEqual(Location.objects.get(pk=3).warehouse, warehouse)  # multi-table child
        self.assertEqual(warehouse.slug, "東京倉庫")
        kinds = {type(c.content_object).__name__ for c in Comment.objects.all()[:3]}
        self.assertEqual(kinds, {"Category", "Item", "Warehouse"})  # generic foreign key
        self.assertTrue(Item.objects.filter(comments__isnull=False).exists())  # generic relation
        for model in (Location, Warehouse, StockLevel, Comment):
            self.assertEqual(len([obj.pk for obj in model.objects.all()]), model.objects.count())
        for comment in Comment.objects.exclude(screenshot=None).exclude(screenshot=""):
            self.assertTrue(comment.screenshot.name.startswith("screenshots/"))
