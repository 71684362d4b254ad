"""App configuration for the inventory app."""

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """The demo's only app: items, their categories, tags and events."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"
