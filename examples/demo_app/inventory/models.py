"""Models chosen to cover the column types a SQLite → PostgreSQL move can get wrong.

Each field maps to a different SQLite storage format and PostgreSQL type:
bool (integer 0/1 → boolean), datetime (naive UTC text → timestamptz), decimal
(NUMERIC affinity → numeric), float (real → double precision), JSON (text →
jsonb), UUID (32 hex chars → uuid), duration (integer microseconds → interval),
binary (blob → bytea), plus FK, M2M and BigAutoField primary keys.
"""

import uuid

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
