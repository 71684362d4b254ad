"""Fill the inventory tables with deterministic, migration-hostile demo data.

``manage.py generate_data --rows N [--seed S]``: about N rows in total (items
N/2, item-tag links N/4, stock levels N/16, comments N/16, events the rest, plus
20 categories, 25 tags and 32 locations of which 30 are warehouses). The same N
and seed give byte-identical table contents. The rows of the models holding the
other built-in fields (time, small/big integers, slug, e-mail, URL, file, image,
IP address, one-to-one, generic relation, inheritance) come from
``inventory.fielddata``.

Speed matters (a million rows in well under a minute), so rows are written with
the raw sqlite3 connection and ``executemany`` in one transaction, in the exact
formats Django's SQLite backend uses: bool 0/1, naive UTC datetime text,
date text, decimal text (SQLite's NUMERIC affinity then stores it as a number),
UUID as 32 hex digits, duration as integer microseconds, JSON text, blobs.
Values are drawn from small precomputed pools with one random word per row.
"""

import datetime
import hashlib
import json
import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from inventory import fielddata

APP_TABLES = (
    # Children first, so the order also suits FK checks.
    "inventory_comment",
    "inventory_stocklevel",
    "inventory_item_tags",
    "inventory_event",
    "inventory_item",
    "inventory_warehouse",
    "inventory_location",
    "inventory_tag",
    "inventory_category",
)
# Events with the highest ids are deleted after the load, so that
# sqlite_sequence is ahead of max(id) and a migration must honour it.
DELETED_EVENTS = 3
# Tags per item, cycled by item id: 4 links per 8 items, i.e. links = items / 2.
TAG_CYCLE = (1, 0, 2, 0, 0, 1, 0, 0)
EPOCH = datetime.datetime(2010, 1, 1)
DATE_EPOCH = datetime.date(1990, 1, 1)

# Data tables, kept compact by hand.
# fmt: off
CATEGORIES = (
    ("Werkzeug & Zubehör", "Hämmer, Schraubendreher und Sägen für Heimwerker."),
    ("Küchengeräte", ""),
    ("Bücher", "Romane, Sachbücher\nund Comics."),
    ("Ηλεκτρονικά", "Υπολογιστές, τηλέφωνα και αξεσουάρ."),
    ("Παιχνίδια", ""),
    ("家具", "椅子、机、棚。"),
    ("文房具", "ペンとノート 📓"),
    ("전자제품", "스마트폰과 노트북"),
    ("Électroménager", "Réfrigérateurs, lave-linge, sèche-linge."),
    ("Café & Thé", "Bohnen, Blätter — und \"Zubehör\"."),
    ("Spielwaren – Outdoor", "\tEingerückt mit Tab und Leerzeichen am Ende   "),
    ("Garten", "Back\\slash und 'Hochkomma'"),
    ("Office", "Line one\r\nLine two (CRLF)"),
    ("Sport 🏃‍♀️", "Laufen, Radfahren, Schwimmen 🚴🏊"),
    ("Música", "Guitarras, pianos, baterías."),
    ("Ёлочные игрушки", "Новогодние украшения"),
    ("Öl & Schmierstoffe", "100% synthetisch; 5W-30"),
    ("עברית ועربية", "טקסט מימין לשמאל — نص من اليمين إلى اليسار"),
    ("NULL", "The literal text NULL, not a null value."),
    ("Sonstiges", "\\N is text here, not COPY's null marker."),
)
TAGS = (
    "neu", "gebraucht", "größe-xl", "sale", "eco", "ελαφρύ", "新品", "限定",
    "🔥 hot", "🎁", "bio", "fair-trade", "B-Ware", "Ausverkauft", "überlänge",
    "tag with spaces", "UPPER", "lower", "MiXeD", "näh'n", "back\\slash",
    "per%cent", "semi;colon", "comma,tag",
    "ß" * 50,  # exactly max_length=50 characters, 100 bytes in UTF-8
)
ADJECTIVES = (
    "Großer", "Kleiner", "Schöner", "Grüner", "Äußerst leichter", "Μεγάλο",
    "Μικρό", "赤い", "青い", "大きな", "Rouge", "Élégant", "Süßer", "Blue",
    "Old", "New", "Τέλειο", "Smart 🤖", "Cool 😎", "Ünïcödé", "", "  Spaced  ",
    "O'Brien's", "\"Quoted\"", "Tab\tbed", "Multi\nline", "100%", "C:\\path",
    "ﬁne ligature", "e\u0301 combining", "👩‍💻 dev", "Ω",
)
NOUNS = (
    "Hammer", "Schraubenschlüssel", "Kaffeemühle", "Bücherregal", "Stuhl",
    "Κιθάρα", "Λάμπα", "椅子", "時計", "컴퓨터", "Lampe", "Tasse", "Teller",
    "Fahrrad", "Rucksack", "Zelt", "Füller", "Notizbuch", "Drucker", "Kabel",
    "Ladegerät", "Kopfhörer", "Lautsprecher", "Kamera", "Objektiv", "Stativ",
    "Tisch", "Sofa", "Teppich", "Vase", "Uhr", "Spiegel",
)
DESCRIPTIONS = (
    "",
    "Ein robustes Werkzeug für den täglichen Einsatz.",
    "Mehrzeilig:\nZeile zwei\nZeile drei",
    "Windows line endings\r\nsecond line\r\n",
    "Tabs\tinside\tthe\ttext",
    "Trailing spaces   ",
    "   Leading spaces",
    "Backslashes \\ and \\\\ and \\n (not a newline)",
    "\\N",
    "NULL",
    "'; DROP TABLE inventory_item; --",
    "Quotes: 'single' \"double\" \u201edeutsch\u201c \u00abfran\u00e7ais\u00bb \u300c\u65e5\u672c\u8a9e\u300d",
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "日本語の説明文です。漢字、ひらがな、カタカナ。",
    "中文描述：这是一个很好的产品。",
    "한국어 설명입니다.",
    "Emoji: 😀🚀🎉👍🏽 👨‍👩‍👧‍👦 🇩🇪 🏳️‍🌈",
    "Math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷ π",
    "Zero-width: a\u200bb\u200cc\u200dd and BOM-like \ufeff inside",
    "Combining: e\u0301 vs \u00e9, A\u030a vs \u00c5",
    "Arabic: هذا وصف باللغة العربية. Hebrew: זהו תיאור בעברית.",
    "Percent %s %d %% and braces {0} {name}",
    "Semicolons; commas, pipes | and carets ^",
    "Control-ish: bell? no. vertical\vtab and form\ffeed",
    # Longer than PostgreSQL's 2 kB TOAST threshold.
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 45,
    "Größe: 42 × 17 cm; Gewicht: 1,5 kg; Preis: 12,30 €",
    " ",
    "x",
)
NOTES = (
    None, None, None, None, "", "", "", " ", "NULL", "\\N", "ok", "geprüft ✓",
    "Ελέγχθηκε", "確認済み", "é" * 200, "needs review",
)
EVENT_KINDS = (
    "created", "updated", "price_changed", "stock_in", "stock_out", "sold",
    "returned", "Lieferung", "Prüfung", "検品", "αποστολή", "📦 shipped",
    "ÄÖÜäöüßÄÖÜäöüßÄÖÜäö",  # exactly max_length=20 characters
    "deleted", "archived", "x",
)
JSON_KEYS = (
    "größe", "farbe", "χρώμα", "色", "emoji🙂", "", "with space", "dotted.key",
    "$ref", "UPPER", "lower", "id", "0", "null", "true", "ключ",
)
JSON_SCALARS = (
    "rot", "grün", "blau", "藍", "🚀", "", " ", "null", "line\nbreak", "tab\tx",
    'quote "q"', "back\\slash", 0, 1, -1, 42, 2**53 + 1, -(2**63), 2**64, 0.1,
    0.30000000000000004, 1e-7, 1.5e300, -0.0, 3.141592653589793, True, False, None,
)
FLOATS = (
    0.0, -0.0, 0.1, 0.30000000000000004, 1 / 3, 2 / 3, 1e-300,
    2.2250738585072014e-308, 1.7976931348623157e308, 123456789.12345679,
    -273.15, 3.141592653589793, 1e16, 9007199254740993.0, 6.02214076e23, 1.0,
)
PRICES = (
    "0.10", "12345678.90", "0.00", "0.01", "9999999999.99", "1.00", "19.99",
    "1000.50", "-5.00", "100",
)
DURATIONS_US = (
    0, -1, 1, -86_400_000_000, 86_399_999_999, 1_000_000, -123_456_789,
    3_600_000_000, 31_536_000_000_000, 315_360_000_000_000, 90 * 86_400_000_000,
    2 * 365 * 86_400_000_000 + 1, -7 * 86_400_000_000,
)
SPECIAL_DATETIMES = (
    "1970-01-01 00:00:00",
    "2000-02-29 23:59:59.999999",
    "2038-01-19 03:14:08.000001",
    "1999-12-31 23:59:59",
    "2024-02-29 12:00:00.500000",
)
USERS = (
    # username, first name, last name, is_staff
    ("demo_user_01", "Jürgen", "Müller", 1),
    ("demo_user_02", "Ελένη", "Παπαδοπούλου", 0),
    ("demo_user_03", "花子", "山田", 0),
)
GROUP = "Inventory editors"
GROUP_PERMISSIONS = ("add_item", "change_item", "view_item", "view_event", "view_category")
# fmt: on


def _pool_dump(value, rng):
    # Mostly Django's own JSON format (ensure_ascii); some raw UTF-8 and compact
    # text too, as written by other tools: all of it is valid JSON.
    style = rng.randrange(4)
    if style == 0:
        return json.dumps(value, ensure_ascii=False)
    if style == 1:
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value)


def _random_json(rng, depth=0):
    kind = rng.randrange(8 if depth < 3 else 1)
    if kind < 5:
        return rng.choice(JSON_SCALARS)
    if kind < 7:
        keys = rng.sample(JSON_KEYS, rng.randrange(1, 4))
        return {key: _random_json(rng, depth + 1) for key in keys}
    return [_random_json(rng, depth + 1) for _unused in range(rng.randrange(0, 3))]


def build_pools(rng):
    """Precompute value pools; sizes are powers of two so a bit mask picks one."""
    attributes = ["{}"] * 96
    for _unused in range(160):
        keys = rng.sample(JSON_KEYS, rng.randrange(1, 6))  # varied key order
        attributes.append(_pool_dump({k: _random_json(rng) for k in keys}, rng))
    attributes[96] = json.dumps([1, "zwei", {"drei": [3.0, None]}])  # a top-level array
    attributes[97] = json.dumps("just a string")
    attributes[98] = json.dumps(
        {"z": 1, "a": {"y": [True, False, None], "b": "ünïcödé 🚀"}, "m": {"": ""}}
    )
    payloads = [None] * 48 + ["null"] * 4  # SQL NULL and JSON null are different
    while len(payloads) < 256:
        payloads.append(
            _pool_dump(
                {
                    "by": rng.choice(USERS)[0],
                    "from": rng.choice(JSON_SCALARS),
                    "to": rng.choice(JSON_SCALARS),
                    "details": _random_json(rng, depth=1),
                },
                rng,
            )
        )
    blobs = [None] * 40 + [b"", b"\x00", b"\x00\x00\x00", b"\\N", b"\xff\xfe\x00\x01"]
    blobs += [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(256)), rng.randbytes(4096)]
    while len(blobs) < 128:
        blobs.append(rng.randbytes(rng.randrange(1, 65)))
    weights = [None] * 24 + list(FLOATS)
    while len(weights) < 256:
        # Full 53-bit mantissas: float4 would lose them.
        weights.append(rng.random() * 10 ** rng.randrange(-3, 7))
    prices = list(PRICES)
    while len(prices) < 1024:
        cents = rng.randrange(0, 10 ** rng.randrange(2, 10))
        prices.append(f"{cents // 100}.{cents % 100:02d}")
    dates = [None] * 800 + ["2000-02-29", "1970-01-01", "2024-02-29", "1900-01-01"]
    while len(dates) < 4096:
        dates.append(str(DATE_EPOCH + datetime.timedelta(days=rng.randrange(0, 40 * 366))))
    durations = [None] * 12 + list(DURATIONS_US)
    while len(durations) < 32:
        durations.append(rng.randrange(-(10**12), 10**14))
    # Each text once, padded with short ones: the long text is then in only
    # 1 row of 64, which keeps the file small.
    descriptions = list(DESCRIPTIONS)
    short = [text for text in DESCRIPTIONS if len(text) < 200]
    while len(descriptions) < 64:
        descriptions.append(rng.choice(short))
    # Leading and trailing blanks of some adjectives are kept on purpose.
    names = [f"{adj} {noun}" if adj else noun for adj in ADJECTIVES for noun in NOUNS]
    for pool in (
        attributes,
        payloads,
        blobs,
        weights,
        prices,
        dates,
        durations,
        names,
        descriptions,
    ):
        rng.shuffle(pool)
    # item_rows and event_rows pick from these with bit masks.
    sizes = (len(attributes), len(payloads), len(blobs), len(weights), len(prices), len(dates))
    assert sizes == (256, 256, 128, 256, 1024, 4096), sizes
    assert (len(durations), len(descriptions), len(NOTES)) == (32, 64, 16)
    return {
        "attributes": attributes,
        "payloads": payloads,
        "blobs": blobs,
        "weights": weights,
        "prices": prices,
        "dates": dates,
        "durations": durations,
        "names": names,
        "descriptions": descriptions,
    }


def _datetime_text(bits):
    """Django's SQLite datetime text from random bits; ~1/4 without microseconds."""
    micro = (bits >> 30) % 1_000_000 if bits & (3 << 50) else 0
    value = EPOCH + datetime.timedelta(seconds=bits & 0x1FFFFFFF, microseconds=micro)
    return str(value)  # 'YYYY-MM-DD HH:MM:SS[.ffffff]', as Django writes it


def _uuid_hex(bits):
    # Same bit-twiddling as uuid.UUID(int=..., version=4), without the object.
    bits &= ~(0xC000 << 48)
    bits |= 0x8000 << 48
    bits &= ~(0xF000 << 64)
    bits |= 4 << 76
    return f"{bits:032x}"


# Pools are bound to locals: attribute and global lookups cost in a hot loop.
def item_rows(rng, pools, count):  # pylint: disable=too-many-locals
    """Yield inventory_item rows (id, uuid, ..., category_id) for ids 1..count."""
    getbits = rng.getrandbits
    names, prices, weights = pools["names"], pools["prices"], pools["weights"]
    dates, durations = pools["dates"], pools["durations"]
    attributes, blobs = pools["attributes"], pools["blobs"]
    descriptions = pools["descriptions"]
    n_names, n_cat = len(names), len(CATEGORIES)
    for item_id in range(1, count + 1):
        # One 64-bit word per row, sliced into pool indexes (pool sizes are
        # powers of two); a second word for the fields with odd-sized pools.
        bits, more = getbits(64), getbits(48)
        if item_id % 4999 == 0:
            name = ("Ü😀" * 100)[:200]  # exactly max_length, 4-byte characters
        else:
            name = f"{names[(more & 0xFFFF) % n_names]} #{item_id}"
        yield (
            item_id,
            _uuid_hex(getbits(128)),
            name,
            descriptions[(more >> 16) & 63],
            NOTES[bits & 15],
            prices[(bits >> 4) & 1023],
            weights[(bits >> 14) & 255],
            0 if (bits >> 22) & 7 == 0 else 1,
            (
                SPECIAL_DATETIMES[item_id % len(SPECIAL_DATETIMES)]
                if item_id % 997 == 1
                else _datetime_text(getbits(52))
            ),
            dates[(bits >> 25) & 4095],
            durations[(bits >> 37) & 31],
            attributes[(bits >> 42) & 255],
            blobs[(bits >> 50) & 127],
            1 + ((more >> 32) & 0xFFFF) % n_cat,
        )


def link_rows(n_items):
    """Yield inventory_item_tags rows: 0-2 distinct tags per item, cycled."""
    link_id = 0
    n_tags = len(TAGS)
    for item_id in range(1, n_items + 1):
        for offset in range(TAG_CYCLE[item_id % len(TAG_CYCLE)]):
            link_id += 1
            # Distinct for one item because n_tags (25) > 7 * offset.
            yield (link_id, item_id, 1 + (item_id * 7 + offset * 7) % n_tags)


def event_rows(rng, pools, count, n_items):
    """Yield inventory_event rows (id, item_id, kind, happened_at, payload)."""
    getbits = rng.getrandbits
    payloads = pools["payloads"]
    n_kinds = len(EVENT_KINDS)
    for event_id in range(1, count + 1):
        bits = getbits(64)
        yield (
            event_id,
            1 + (bits & 0xFFFFFFFF) % n_items,
            EVENT_KINDS[(bits >> 32) % n_kinds],
            _datetime_text(getbits(52)),
            payloads[(bits >> 40) & 255],
        )


def plan(rows):
    """Split the requested total into per-table row counts (before the deletion).

    Returns (items, links, events, locations, stock levels, comments).
    """
    n_items = rows // 2
    n_links = sum(TAG_CYCLE[i % len(TAG_CYCLE)] for i in range(1, n_items + 1))
    n_locations, n_stock, n_comments = fielddata.plan_counts(rows, n_items)
    rest = rows - n_items - n_links - n_stock - n_comments - n_locations
    n_events = max(rest, 0) if n_items else 0
    return n_items, n_links, n_events, n_locations, n_stock, n_comments


class Command(BaseCommand):
    """manage.py generate_data --rows N [--seed S]"""

    help = (
        "Replace the inventory tables' contents with about N deterministic rows "
        "(SQLite only; the data is meant to be migrated to PostgreSQL)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows", type=int, default=1000, help="approximate total rows (default 1000)"
        )
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias")
        parser.add_argument(
            "--vacuum",
            action="store_true",
            help="VACUUM afterwards: a rerun over more rows otherwise leaves free pages",
        )

    def handle(self, *args, **options):
        rows, seed = options["rows"], options["seed"]
        if rows < 0:
            raise CommandError("--rows must not be negative")
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            raise CommandError(
                f"generate_data only writes SQLite (this database is {connection.vendor}): "
                "it fills the SQLite file that the migration then moves to PostgreSQL."
            )
        missing = set(APP_TABLES) - set(connection.introspection.table_names())
        if missing:
            raise CommandError(
                f"tables {', '.join(sorted(missing))} do not exist: run `manage.py migrate` first"
            )
        connection.ensure_connection()
        raw = connection.connection  # the sqlite3.Connection under Django
        if raw.in_transaction:
            raise CommandError("generate_data must not run inside a transaction")

        started = time.monotonic()
        # FK checks off: DELETE without WHERE can then truncate instead of
        # visiting every row. Integrity is verified before the commit instead.
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            raw.execute("BEGIN IMMEDIATE")
            try:
                counts = self._load(raw, rows, seed)
                raw.execute("COMMIT")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
        finally:
            raw.execute("PRAGMA foreign_keys = ON")
        if options["vacuum"]:
            raw.execute("VACUUM")
        seconds = time.monotonic() - started
        summary = " ".join(f"{table}={count}" for table, count in counts.items())
        total = sum(count for table, count in counts.items() if table in APP_TABLES)
        self.stdout.write(
            f"generate_data: {summary} total={total} seed={seed} seconds={seconds:.2f}"
        )

    def _load(self, raw, rows, seed):
        rng = random.Random(seed)
        pools = build_pools(rng)
        n_items, n_links, n_events, n_locations, _stock, n_comments = plan(rows)
        for table in APP_TABLES:
            raw.execute(f'DELETE FROM "{table}"')  # fixed names, not input
        raw.execute(
            f"DELETE FROM sqlite_sequence WHERE name IN ({', '.join('?' * len(APP_TABLES))})",
            APP_TABLES,
        )
        raw.executemany(
            "INSERT INTO inventory_category (id, name, description) VALUES (?, ?, ?)",
            [(i, name, desc) for i, (name, desc) in enumerate(CATEGORIES, start=1)],
        )
        raw.executemany(
            "INSERT INTO inventory_tag (id, name) VALUES (?, ?)",
            list(enumerate(TAGS, start=1)),
        )
        raw.executemany(
            "INSERT INTO inventory_item (id, uuid, name, description, note, price, weight,"
            " active, created_at, release_date, warranty, attributes, thumbnail, category_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            item_rows(rng, pools, n_items),
        )
        raw.executemany(
            "INSERT INTO inventory_item_tags (id, item_id, tag_id) VALUES (?, ?, ?)",
            link_rows(n_items),
        )
        raw.executemany(
            "INSERT INTO inventory_event (id, item_id, kind, happened_at, payload)"
            " VALUES (?, ?, ?, ?, ?)",
            event_rows(rng, pools, n_events, n_items),
        )
        deleted = min(DELETED_EVENTS, n_events)
        raw.execute("DELETE FROM inventory_event WHERE id > ?", (n_events - deleted,))
        counts = self._load_every_field(raw, rng, n_items, n_locations, n_comments)
        users = self._load_auth(raw, seed)
        for table in APP_TABLES:
            if raw.execute(f'PRAGMA foreign_key_check("{table}")').fetchone():
                raise CommandError(f"generated rows break a foreign key in {table} (a bug)")
        return {
            "inventory_category": len(CATEGORIES),
            "inventory_tag": len(TAGS),
            "inventory_item": n_items,
            "inventory_item_tags": n_links,
            "inventory_event": n_events - deleted,
            **counts,
            "auth_user": users,
        }

    @staticmethod
    def _load_every_field(raw, rng, n_items, n_locations, n_comments):
        """Locations, warehouses (multi-table child), stock levels (one-to-one), comments (generic)."""
        if not n_locations:
            return {"inventory_location": 0, "inventory_warehouse": 0}
        locations, warehouses = fielddata.location_rows()
        raw.executemany(
            "INSERT INTO inventory_location (id, created_at, updated_at, name, slug, email,"
            " website, opens_at, closes_at, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            locations,
        )
        raw.executemany(
            "INSERT INTO inventory_warehouse (location_ptr_id, capacity, floors, min_temperature,"
            " pallets_moved, balance_cents, gateway_ip, refrigerated, floor_plan, photo,"
            " photo_width, photo_height, config_file)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            warehouses,
        )
        warehouse_ids = [row[0] for row in warehouses]
        raw.executemany(
            "INSERT INTO inventory_stocklevel (id, item_id, warehouse_id, on_hand, reserved,"
            " reorder_level, units_sold, value_cents, counted_at, bin_code)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            fielddata.stock_rows(rng, n_items, warehouse_ids),
        )
        content_types = dict(
            raw.execute(
                "SELECT model, id FROM django_content_type WHERE app_label = 'inventory'"
                " AND model IN ('item', 'warehouse', 'category')"
            ).fetchall()
        )
        targets = [(content_types["warehouse"], warehouse_ids)]
        targets.append((content_types["category"], range(1, len(CATEGORIES) + 1)))
        if n_items:
            targets.append((content_types["item"], range(1, n_items + 1)))
        raw.executemany(
            "INSERT INTO inventory_comment (id, created_at, updated_at, content_type_id, object_id,"
            " author_email, author_url, remote_addr, body, attachment, screenshot)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            fielddata.comment_rows(rng, n_comments, targets),
        )
        return {
            "inventory_location": len(locations),
            "inventory_warehouse": len(warehouses),
            "inventory_stocklevel": n_items // 8,
            "inventory_comment": n_comments,
        }

    @staticmethod
    def _load_auth(raw, seed):
        """Upsert a few users and a group, so the auth tables are not empty.

        Upserts keep their ids stable across reruns. Passwords are unusable
        ('!' prefix, like make_password(None)) but deterministic.
        """
        for index, (username, first, last, staff) in enumerate(USERS):
            digest = hashlib.sha256(f"{seed}:{username}".encode()).hexdigest()[:40]
            raw.execute(
                "INSERT INTO auth_user (password, last_login, is_superuser, username,"
                " first_name, last_name, email, is_staff, is_active, date_joined)"
                " VALUES (?, ?, 0, ?, ?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (username) DO UPDATE SET password = excluded.password,"
                " last_login = excluded.last_login, first_name = excluded.first_name,"
                " last_name = excluded.last_name, email = excluded.email,"
                " is_staff = excluded.is_staff, date_joined = excluded.date_joined",
                (
                    f"!{digest}",
                    None if index else "2024-05-01 08:15:00.123456",
                    username,
                    first,
                    last,
                    f"{username}@example.invalid",
                    staff,
                    f"2020-0{index + 1}-15 09:30:00",
                ),
            )
        raw.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (GROUP,))
        (group_id,) = raw.execute("SELECT id FROM auth_group WHERE name = ?", (GROUP,)).fetchone()
        # Permissions exist once migrate's post_migrate signal has run.
        raw.execute(
            "INSERT OR IGNORE INTO auth_group_permissions (group_id, permission_id)"
            " SELECT ?, p.id FROM auth_permission p JOIN django_content_type c"
            " ON c.id = p.content_type_id WHERE c.app_label = 'inventory' AND p.codename IN"
            f" ({', '.join('?' * len(GROUP_PERMISSIONS))}) ORDER BY p.id",
            (group_id, *GROUP_PERMISSIONS),
        )
        raw.execute(
            "INSERT OR IGNORE INTO auth_user_groups (user_id, group_id)"
            " SELECT id, ? FROM auth_user WHERE username IN (?, ?) ORDER BY id",
            (group_id, USERS[0][0], USERS[1][0]),
        )
        return len(USERS)
