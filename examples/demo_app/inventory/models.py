"""Models chosen to cover the column types a SQLite → PostgreSQL move can get wrong.

Each field maps to a different SQLite storage format and PostgreSQL type:
bool (integer 0/1 → boolean), datetime (naive UTC text → timestamptz), decimal
(NUMERIC affinity → numeric), float (real → double precision), JSON (text →
jsonb), UUID (32 hex chars → uuid), duration (integer microseconds → interval),
binary (blob → bytea), plus FK, M2M and BigAutoField primary keys.

The second half (Location, Warehouse, StockLevel, Comment) holds every other
built-in field: time, smallint/bigint and the positive variants at the ends of
their ranges, slug (unicode), email, URL, file and image paths, file path,
unbounded CharField, nullable boolean, GenericIPAddressField (PostgreSQL inet),
OneToOneField, a SmallAutoField primary key, a generic relation, an abstract base
model and multi-table inheritance.
"""

import uuid

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class Category(models.Model):
    """A product category; items PROTECT it from deletion."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Tag(models.Model):
    """A free label; many-to-many with items."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return self.name


class Item(models.Model):
    """An inventory item with one field of each interesting type."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Nullable and blank: NULL and '' must stay distinct after the migration.
    note = models.CharField(max_length=200, null=True, blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    tags = models.ManyToManyField(Tag, blank=True, related_name="items")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    weight = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    release_date = models.DateField(null=True, blank=True)
    warranty = models.DurationField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    thumbnail = models.BinaryField(null=True, blank=True)
    # Reverse side of Comment's generic relation: no column.
    comments = GenericRelation("Comment", related_query_name="item")

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return self.name


class Event(models.Model):
    """Something that happened to an item; deleted with it."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)
    happened_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return f"{self.kind} @ {self.happened_at:%Y-%m-%d %H:%M:%S}"


class Timestamped(models.Model):
    """Abstract base: no table of its own, its fields are columns of each subclass's table."""

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Location(Timestamped):
    """A place items are kept; the parent of Warehouse (multi-table inheritance)."""

    id = models.SmallAutoField(primary_key=True)  # smallint identity
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=80, unique=True, allow_unicode=True)
    email = models.EmailField(blank=True)
    website = models.URLField(max_length=300, blank=True)
    opens_at = models.TimeField(null=True, blank=True)
    closes_at = models.TimeField(null=True, blank=True)
    # No max_length: varchar without a limit on PostgreSQL (Django 4.2+).
    address = models.CharField(blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return self.name


class Warehouse(Location):
    """Multi-table inheritance: its table holds location_ptr_id (a smallint one-to-one key)."""

    capacity = models.PositiveIntegerField()
    floors = models.PositiveSmallIntegerField(default=1)
    min_temperature = models.SmallIntegerField(null=True, blank=True)
    pallets_moved = models.PositiveBigIntegerField(default=0)
    balance_cents = models.BigIntegerField(default=0)
    # protocol "both" without unpacking: '::ffff:192.0.2.1' stays IPv6.
    gateway_ip = models.GenericIPAddressField(null=True, blank=True)
    refrigerated = models.BooleanField(null=True, blank=True)  # yes, no, unknown
    floor_plan = models.FileField(upload_to="floor_plans/", blank=True)
    photo = models.ImageField(
        upload_to="warehouses/",
        blank=True,
        width_field="photo_width",
        height_field="photo_height",
    )
    photo_width = models.PositiveIntegerField(null=True, blank=True)
    photo_height = models.PositiveIntegerField(null=True, blank=True)
    config_file = models.FilePathField(
        path="/srv/warehouse-configs", match=r".*\.ini$", recursive=True, blank=True, max_length=200
    )
    comments = GenericRelation("Comment", related_query_name="warehouse")


class StockLevel(models.Model):
    """Stock of one item (a OneToOneField), integers up to the ends of their ranges."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="stock")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField()
    reserved = models.SmallIntegerField(default=0)
    reorder_level = models.PositiveSmallIntegerField(default=0)
    units_sold = models.PositiveBigIntegerField(default=0)
    value_cents = models.BigIntegerField(default=0)
    counted_at = models.TimeField(null=True, blank=True)
    bin_code = models.SlugField(max_length=20)

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return f"{self.item_id}: {self.on_hand}"


class Comment(Timestamped):
    """A remark on any object: a generic relation (content type + object id)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")
    author_email = models.EmailField()
    author_url = models.URLField(blank=True)
    # Unpacked like Django does on save: '::ffff:192.0.2.1' is stored as '192.0.2.1'.
    remote_addr = models.GenericIPAddressField(unpack_ipv4=True, null=True, blank=True)
    body = models.TextField()
    attachment = models.FileField(upload_to="attachments/%Y/%m/", max_length=255, blank=True)
    screenshot = models.ImageField(upload_to="screenshots/", null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return f"{self.author_email} on {self.content_type_id}:{self.object_id}"
