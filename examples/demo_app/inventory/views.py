"""A small JSON CRUD API over Item, without any REST framework.

``GET/POST /api/items/`` and ``GET/PUT/PATCH/DELETE /api/items/<id>/``. JSON in
and out; bad input is a 400 with a message, never a stack trace. Output
formats: uuid with dashes, decimal as a string, datetimes ISO 8601, duration
ISO 8601 (exact to the microsecond), binary as base64, tags as sorted names.
"""

import base64
import binascii
import datetime
import json
import uuid
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_duration
from django.utils.duration import duration_iso_string
from django.views.decorators.csrf import csrf_exempt

from inventory.models import Category, Event, Item, Tag

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, ...}`` with ``status``."""

    def __init__(self, message, status=400, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra


def _error_response(exc):
    response = JsonResponse({"error": str(exc), **exc.extra}, status=exc.status)
    if exc.status == 405:
        response["Allow"] = exc.extra["allow"]
    return response


def item_to_dict(item):
    """Serialise an Item (tags and category should be prefetched)."""
    return {
        "id": item.pk,
        "uuid": str(item.uuid),
        "name": item.name,
        "description": item.description,
        "note": item.note,
        "category": item.category_id,
        "category_name": item.category.name,
        "tags": sorted(tag.name for tag in item.tags.all()),
        "price": str(item.price),
        "weight": item.weight,
        "active": item.active,
        "created_at": item.created_at.isoformat(),
        "release_date": item.release_date.isoformat() if item.release_date else None,
        "warranty": duration_iso_string(item.warranty) if item.warranty is not None else None,
        "attributes": item.attributes,
        "thumbnail": (
            base64.b64encode(bytes(item.thumbnail)).decode("ascii")
            if item.thumbnail is not None
            else None
        ),
    }


# --- input parsers: each takes the JSON value and returns the model value ---


def _string(value, field):
    if not isinstance(value, str):
        raise ApiError(f"{field} must be a string")
    if "\x00" in value:
        # SQLite would store it, PostgreSQL refuses it: keep the data migratable.
        raise ApiError(f"{field} must not contain NUL characters")
    return value


def _nullable_string(value, field):
    return None if value is None else _string(value, field)


def _decimal(value, field):
    # bool is an int subclass: reject it explicitly.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ApiError(f'{field} must be a decimal string such as "12.30"')
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(f"{field} is not a valid decimal: {value!r}") from None
    if not number.is_finite():
        raise ApiError(f"{field} must be a finite number")
    return number


def _nullable_float(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(f"{field} must be a number or null")
    return float(value)


def _boolean(value, field):
    if not isinstance(value, bool):
        raise ApiError(f"{field} must be true or false")
    return value


def _datetime(value, field):
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        parsed = None
    if parsed is None:
        raise ApiError(f"{field} must be an ISO 8601 datetime such as 2024-05-01T12:00:00Z")
    if timezone.is_naive(parsed):
        # The project runs in UTC; a naive value is read as UTC, not rejected.
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _nullable_date(value, field):
    if value is None:
        return None
    try:
        parsed = parse_date(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError(f"{field} must be an ISO date such as 2024-05-01, or null")
    return parsed


def _nullable_duration(value, field):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.timedelta(seconds=value)
        except (OverflowError, ValueError):
            raise ApiError(f"{field} is out of range") from None
    parsed = parse_duration(value) if isinstance(value, str) else None
    if parsed is None:
        raise ApiError(f"{field} must be seconds (a number), an ISO 8601 duration, or null")
    return parsed


def _json(value, field):
    # jsonb rejects \u0000 in strings; refuse it here rather than at migration time.
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str) and "\x00" in node:
            raise ApiError(f"{field} must not contain NUL characters (\\u0000)")
    return value


def _nullable_base64(value, field):
    if value is None:
        return None
    try:
        return base64.b64decode(_string(value, field), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(f"{field} must be base64 or null") from None


def _category(value, field):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{field} must be a category id (integer)")
    try:
        return Category.objects.get(pk=value)
    except Category.DoesNotExist:
        raise ApiError(f"{field}: category {value} does not exist") from None


def _uuid(value, field):
    try:
        return uuid.UUID(_string(value, field))
    except ValueError:
        raise ApiError(f"{field} must be a UUID") from None


def _tag_names(value, field):
    max_length = Tag._meta.get_field("name").max_length
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= max_length and "\x00" not in v for v in value
    ):
        raise ApiError(f"{field} must be a list of tag names (1 to {max_length} characters)")
    return value


# field name → (parser, required on create/PUT, default factory when absent)
FIELDS = {
    "name": (_string, True, None),
    "description": (_string, False, str),
    "note": (_nullable_string, False, lambda: None),
    "category": (_category, True, None),
    "price": (_decimal, True, None),
    "weight": (_nullable_float, False, lambda: None),
    "active": (_boolean, False, lambda: True),
    "created_at": (_datetime, False, timezone.now),
    "release_date": (_nullable_date, False, lambda: None),
    "warranty": (_nullable_duration, False, lambda: None),
    "attributes": (_json, False, dict),
    "thumbnail": (_nullable_base64, False, lambda: None),
}
READ_ONLY = {"id", "category_name"}


def _reject_constant(name):
    # Python's json accepts NaN and Infinity; JSON and PostgreSQL's jsonb do not.
    raise ValueError(f"{name} is not valid JSON")


def _read_json(request):
    try:
        data = json.loads(request.body or b"null", parse_constant=_reject_constant)
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise ApiError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object")
    return data


def _apply(item, data, partial):
    """Validate ``data`` and set it on ``item``; return the tag names to set or None."""
    unknown = sorted(set(data) - set(FIELDS) - READ_ONLY - {"uuid", "tags"})
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(unknown)}")
    if not partial:
        missing = [name for name, spec in FIELDS.items() if spec[1] and name not in data]
        if missing:
            raise ApiError(f"missing required field(s): {', '.join(missing)}")
    for name, (parser, _kind, default) in FIELDS.items():
        if name in data:
            setattr(item, name, parser(data[name], name))
        elif not partial:
            setattr(item, name, default())
    if "uuid" in data:
        new_uuid = _uuid(data["uuid"], "uuid")
        if item.pk is not None and new_uuid != item.uuid:
            raise ApiError("uuid cannot be changed")
        item.uuid = new_uuid
    if "tags" in data:
        return _tag_names(data["tags"], "tags")
    return None if partial else []


def _save(item, tag_names):
    try:
        item.full_clean()
    except ValidationError as exc:
        raise ApiError("validation failed", fields=exc.message_dict) from None
    try:
        with transaction.atomic():
            item.save()
            if tag_names is not None:
                tags = [Tag.objects.get_or_create(name=name)[0] for name in tag_names]
                item.tags.set(tags)
    except IntegrityError as exc:
        raise ApiError(f"conflicts with existing data: {exc}", status=409) from None


def _load(pk):
    try:
        return Item.objects.select_related("category").prefetch_related("tags").get(pk=pk)
    except Item.DoesNotExist:
        raise ApiError(f"item {pk} not found", status=404) from None


def _page_param(request, name, default, maximum):
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ApiError(f"{name} must be a non-negative integer")
    return min(int(raw), maximum)


@csrf_exempt
def items_collection(request):
    """GET: a page of items (``limit``, ``offset``); POST: create one."""
    try:
        if request.method == "GET":
            limit = _page_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
            offset = _page_param(request, "offset", 0, 2**62)
            queryset = Item.objects.select_related("category").prefetch_related("tags")
            page = queryset.order_by("id")[offset : offset + limit]
            return JsonResponse(
                {
                    "count": Item.objects.count(),
                    "limit": limit,
                    "offset": offset,
                    "results": [item_to_dict(item) for item in page],
                }
            )
        if request.method == "POST":
            item = Item()
            _save(item, _apply(item, _read_json(request), partial=False))
            response = JsonResponse(item_to_dict(_load(item.pk)), status=201)
            response["Location"] = f"/api/items/{item.pk}/"
            return response
        raise ApiError(f"method {request.method} not allowed", status=405, allow="GET, POST")
    except ApiError as exc:
        return _error_response(exc)


@csrf_exempt
def item_detail(request, pk):
    """GET, PUT (full replace), PATCH (partial) or DELETE one item."""
    try:
        if request.method not in ("GET", "PUT", "PATCH", "DELETE"):
            raise ApiError(
                f"method {request.method} not allowed",
                status=405,
                allow="GET, PUT, PATCH, DELETE",
            )
        item = _load(pk)
        if request.method == "GET":
            return JsonResponse(item_to_dict(item))
        if request.method == "DELETE":
            item.delete()
            return HttpResponse(status=204)
        tag_names = _apply(item, _read_json(request), partial=request.method == "PATCH")
        _save(item, tag_names)
        return JsonResponse(item_to_dict(_load(item.pk)))
    except ApiError as exc:
        return _error_response(exc)


@csrf_exempt
def item_events(request, pk):
    """POST: record an event of one item (``kind``, optional JSON ``payload``); events go with their
    item when it is deleted (CASCADE). GET: the item's events."""
    try:
        if request.method not in ("GET", "POST"):
            raise ApiError(f"method {request.method} not allowed", status=405, allow="GET, POST")
        item = _load(pk)
        if request.method == "GET":
            events = item.events.order_by("id")
            return JsonResponse({"results": [{"id": e.id, "kind": e.kind, "payload": e.payload} for e in events]})
        data = _read_json(request)
        unknown = sorted(set(data) - {"kind", "payload"})
        if unknown:
            raise ApiError(f"unknown field(s): {', '.join(unknown)}")
        kind = _string(data.get("kind"), "kind")
        if not 0 < len(kind) <= Event._meta.get_field("kind").max_length:
            raise ApiError("kind must be 1 to 20 characters")
        event = Event.objects.create(item=item, kind=kind, payload=_json(data.get("payload"), "payload"))
        return JsonResponse({"id": event.id, "item": item.pk, "kind": event.kind, "payload": event.payload}, status=201)
    except ApiError as exc:
        return _error_response(exc)
