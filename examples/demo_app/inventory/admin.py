"""Admin registrations, so the demo data can be browsed at /admin/."""

from django.contrib import admin

from inventory.models import Category, Comment, Event, Item, StockLevel, Tag, Warehouse


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Categories by name."""

    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Tags by name."""

    search_fields = ("name",)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    """Items; the category is a raw id because there may be a million rows."""

    list_display = ("id", "name", "category", "price", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("name",)
    raw_id_fields = ("category",)
    filter_horizontal = ("tags",)
    # Counting a million rows on every page would be slow.
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events; the item is a raw id for the same reason."""

    list_display = ("id", "item_id", "kind", "happened_at")
    raw_id_fields = ("item",)
    show_full_result_count = False


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    """Warehouses (their Location fields come from the parent table)."""

    list_display = ("id", "name", "slug", "capacity", "gateway_ip")
    search_fields = ("name", "slug")


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    """Stock levels; item and warehouse as raw ids."""

    list_display = ("id", "item_id", "warehouse_id", "on_hand", "counted_at")
    raw_id_fields = ("item", "warehouse")
    show_full_result_count = False


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Comments on any object (generic relation)."""

    list_display = ("id", "content_type", "object_id", "author_email", "remote_addr")
    show_full_result_count = False
