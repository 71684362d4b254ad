"""Project-level views: the health check used by the playbooks, and an index."""

import logging

from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from inventory.models import Item

logger = logging.getLogger(__name__)


@never_cache
@require_GET
# A failed query must not leave an ATOMIC_REQUESTS transaction to commit.
@transaction.non_atomic_requests
def healthz(request):  # pylint: disable=unused-argument
    """Run a real query; 200 with the backend in use, 503 when the database fails.

    ``app_service`` checks ``vendor`` to know which database the app really uses.
    """
    body = {
        "vendor": connection.vendor,
        "database": str(connection.settings_dict.get("NAME") or ""),
    }
    try:
        items = Item.objects.count()
    # Any failure (driver missing, auth, TLS, missing table) means unhealthy;
    # the class name is enough for the caller, details go to the server log.
    except Exception as exc:  # pylint: disable=broad-exception-caught
        logger.exception("health check failed")
        return JsonResponse({"status": "error", **body, "error": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", **body, "items": items})


@require_GET
def index(request):  # pylint: disable=unused-argument
    """List the endpoints, so a browser pointed at / finds its way."""
    return JsonResponse(
        {
            "health": "/healthz",
            "items": "/api/items/",
            "login": "/accounts/login/",
            "admin": "/admin/",
        }
    )
