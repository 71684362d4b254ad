"""Rows for the models that hold every other built-in field (used by generate_data).

Values are written in the exact text Django's SQLite backend stores (what the ORM
itself would write), with the edge values a migration can get wrong: integers at
both ends of smallint/integer/bigint, times with and without microseconds,
unicode slugs, IDN e-mail domains, IPv6 addresses (compressed as Django writes
them, IPv4-mapped, IPv4-compatible), file paths with blanks and umlauts, NULL
next to '' where the column allows both. Every edge value is used in the first
rows of each table (cycled), so even a small --rows shows all of them.
"""

import datetime

# smallint, integer and bigint ends: SQLite keeps any 64-bit integer, PostgreSQL checks ranges.
SMALL_MIN, SMALL_MAX = -(2**15), 2**15 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIG_MIN, BIG_MAX = -(2**63), 2**63 - 1

# fmt: off
TIMES = (  # str(datetime.time): Django's TimeField text on SQLite
    "00:00:00", "23:59:59.999999", "00:00:00.000001", "12:00:00", "08:30:00",
    "13:37:00.123456", "17:45:30.500000", None,
)
# (name, slug, email, website, opens_at, closes_at, address, warehouse?)
LOCATIONS = (
    ("Zentrallager München", "zentrallager-münchen", "lager@example.com",
     "https://example.com/lager/münchen", "06:00:00", "22:00:00",
     "Lagerstraße 1\n80331 München", True),
    ("Αποθήκη Αθήνας", "αποθήκη-αθήνα", "info@bücher.example", "https://例え.jp/パス",
     "00:00:00", "23:59:59.999999", "Οδός Αθηνάς 12, Αθήνα", True),
    ("東京倉庫", "東京倉庫", "o'brien+tag@example.org",
     "http://[2001:db8::1]:8080/path?q=1&r=%C3%BC#frag", "08:30:00", "17:45:30.500000",
     "東京都千代田区1-1", True),
    ("Cold store", "cold_store-01", "UPPER.CASE@EXAMPLE.COM", "ftp://files.example.com/a%20b.txt",
     None, None, "", True),
    ("Max slug", "x" * 80, "a@b.co", "https://example.com/" + "p" * 279, "00:00:00.000001",
     "12:00:00", "Long address: " + "Zeile\n" * 500, True),
    ("Shop Berlin", "shop-berlin", "", "", "09:00:00", "20:00:00", "Unter den Linden 5", False),
    ("Pop-up 🎪", "pop-up", '"quoted local"@example.com', "https://xn--bcher-kva.example/",
     "13:37:00.123456", None, "  leading and trailing blanks  ", False),
    ("Depot 0", "0", "x" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com",
     "http://127.0.0.1:8000/", "23:59:59", "00:00:01", "\\N", True),
)
# Django-canonical text (what GenericIPAddressField.get_prep_value stores).
GATEWAY_IPS = (  # protocol both, unpack_ipv4=False
    "192.0.2.1", "0.0.0.0", "255.255.255.255", "::ffff:192.0.2.1", "2001:db8::1", "::1", "::",
    "fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1:0:0:1",
    # IPv4-compatible (deprecated): Django writes '::c000:201', PostgreSQL prints '::192.0.2.1'.
    "::c000:201", "64:ff9b::c000:201", "1:0:0:2::3", "10.0.0.1", "::ffff:0.0.0.0", None,
)
REMOTE_IPS = (  # unpack_ipv4=True: a mapped address arrives as IPv4
    "198.51.100.7", "2001:db8:85a3::8a2e:370:7334", "10.0.0.1", "::1", "203.0.113.255",
    None, "2001:db8::", "172.16.254.1",
)
ON_HAND = (INT_MIN, INT_MAX, 0, -1, 1, 42, 1000, -500)
RESERVED = (SMALL_MIN, SMALL_MAX, 0, -1, 1, 7, 100, 12)
REORDER = (0, SMALL_MAX, 1, 5, 10, 20, 50, 100)
UNITS_SOLD = (0, BIG_MAX, 1, 2**53 + 1, 2**31, 123456789012, 999, 10**18)
VALUE_CENTS = (BIG_MIN, BIG_MAX, 0, -1, 2**53 + 1, -(2**53) - 1, 1999, -250)
BIN_CODES = ("a-01", "B_12", "zz-99-top", "0", "x" * 20, "A", "rack-7", "r_1-2_3")
EMAILS = (
    "kunde@example.com", "jane.doe+orders@example.org", "info@bücher.example",
    '"john..doe"@example.com', "UPPER@EXAMPLE.COM", "a@b.co", "o'brien@example.ie",
    "x" * 64 + "@example.com",
)
URLS = (
    "", "https://example.com/", "http://[2001:db8::1]:8080/p?q=1#f", "https://例え.jp/パス",
    "https://example.com/search?q=a%20b&lang=de", "ftp://ftp.example.com/pub/", "",
    "https://example.com/" + "a" * 180,
)
ATTACHMENTS = (
    "", "attachments/2024/05/report.pdf", "attachments/2024/05/Grundriss Ü 2.pdf",
    "attachments/2000/02/a'b\"c.txt", "", "attachments/2026/12/" + "n" * 200 + ".bin",
    "attachments/2024/01/报告.docx", "",
)
SCREENSHOTS = (None, "", "screenshots/a.png", "screenshots/ä ö.jpg", None, "screenshots/x.webp", "", None)
FLOOR_PLANS = ("", "floor_plans/plan-1.pdf", "floor_plans/Grundriss Ü 2.pdf", "floor_plans/a b.dwg")
PHOTOS = (("", None, None), ("warehouses/photo.jpg", 1920, 1080), ("warehouses/ü.png", 1, 1),
          ("warehouses/big.tif", 2**31 - 1, 65535))
CONFIG_FILES = ("", "/srv/warehouse-configs/a.ini", "/srv/warehouse-configs/sub dir/ü.ini",
                "/srv/warehouse-configs/" + "d/" * 80 + "x.ini")
BODIES = (
    "", "Sieht gut aus.", "Zeile 1\nZeile 2\r\nZeile 3", "Emoji 👍🏽 and ZWJ 👩‍💻", "\\N", "NULL",
    "'; DROP TABLE inventory_comment; --", "Lorem ipsum dolor sit amet. " * 100,
)
# fmt: on
EPOCH = datetime.datetime(2015, 6, 1)


def _datetime_text(seconds, micro):
    return str(EPOCH + datetime.timedelta(seconds=seconds, microseconds=micro))


# Generated regional warehouses after the hand-written ones: 32 locations in all, so that every
# gateway address and every time occurs.
REGIONAL = 24


def all_locations():
    """LOCATIONS and the regional warehouses, as (name, slug, ..., warehouse?) tuples."""
    regional = tuple(
        (f"Regionallager {n:02d}", f"regionallager-{n:02d}", f"lager{n:02d}@example.com",
         f"https://example.com/lager/{n:02d}", TIMES[n % 8], TIMES[(n + 3) % 8], f"Straße {n}", True)
        for n in range(1, REGIONAL + 1)
    )
    return LOCATIONS + regional


def plan_counts(rows, n_items):
    """(locations, stock levels, comments) for about ROWS rows in total."""
    if not rows:
        return 0, 0, 0
    return len(LOCATIONS) + REGIONAL, n_items // 8, rows // 16


def location_rows():
    """(location rows, warehouse rows), ids 1..32; the warehouses reuse their location's id."""
    locations, warehouses = [], []
    for number, (name, slug, email, website, opens, closes, address, is_warehouse) in enumerate(
        all_locations(), start=1
    ):
        stamp = _datetime_text(number * 86_399, number * 7 % 1_000_000)
        locations.append((number, stamp, stamp, name, slug, email, website, opens, closes, address))
        if is_warehouse:
            plan, (photo, width, height) = FLOOR_PLANS[number % 4], PHOTOS[number % 4]
            warehouses.append(
                (
                    number,
                    (0, INT_MAX, 1, 5000)[number % 4],
                    (1, SMALL_MAX, 0, 3)[number % 4],
                    (SMALL_MIN, SMALL_MAX, None, -18)[number % 4],
                    (0, BIG_MAX, 1, 2**53 + 1)[number % 4],
                    (BIG_MIN, BIG_MAX, 0, -1)[number % 4],
                    GATEWAY_IPS[number % len(GATEWAY_IPS)],
                    (None, 1, 0)[number % 3],
                    plan,
                    photo,
                    width,
                    height,
                    CONFIG_FILES[number % 4],
                )
            )
    return locations, warehouses


def stock_rows(rng, n_items, warehouse_ids):
    """inventory_stocklevel rows: one per eighth item (a one-to-one key), edge values first."""
    getbits = rng.getrandbits
    n_wh = len(warehouse_ids)
    for stock_id, item_id in enumerate(range(8, n_items + 1, 8), start=1):
        bits = getbits(64)
        edge = stock_id <= len(ON_HAND)
        pick = stock_id - 1 if edge else bits
        yield (
            stock_id,
            item_id,
            warehouse_ids[(bits >> 3) % n_wh],
            ON_HAND[pick & 7] if edge or bits & 8 else (bits >> 8) % 100_000 - 50_000,
            RESERVED[pick & 7] if edge or bits & 16 else (bits >> 12) % 200,
            REORDER[pick & 7],
            UNITS_SOLD[pick & 7] if edge or bits & 32 else (bits >> 16) % 10**12,
            VALUE_CENTS[pick & 7] if edge or bits & 64 else (bits >> 20) % 10**10 - 10**9,
            TIMES[pick & 7] if edge or bits & 128 else _time_text(bits >> 24),
            BIN_CODES[(pick >> 4) & 7] if not edge else BIN_CODES[stock_id - 1],
        )


def _time_text(bits):
    seconds, micro = (bits & 0x1FFFF) % 86_400, (bits >> 17) % 1_000_000 if bits & (1 << 40) else 0
    return str(datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro))


def comment_rows(rng, count, targets):
    """inventory_comment rows; TARGETS: ((content_type_id, object ids), ...) to point at."""
    getbits = rng.getrandbits
    for comment_id in range(1, count + 1):
        bits, more = getbits(64), getbits(40)
        content_type_id, object_ids = targets[comment_id % len(targets)]
        pick = comment_id - 1 if comment_id <= 8 else bits
        stamp = _datetime_text(more & 0x1FFFFFFF, (more >> 20) % 1_000_000 if bits & 1 else 0)
        yield (
            comment_id,
            stamp,
            stamp if bits & 2 else _datetime_text((more & 0x1FFFFFFF) + 3600, 1),
            content_type_id,
            object_ids[(bits >> 8) % len(object_ids)],
            EMAILS[pick & 7],
            URLS[(pick >> 3) & 7] if comment_id > 8 else URLS[comment_id - 1],
            REMOTE_IPS[(pick >> 6) & 7] if comment_id > 8 else REMOTE_IPS[comment_id - 1],
            BODIES[(bits >> 40) & 7] if comment_id > 8 else BODIES[comment_id - 1],
            ATTACHMENTS[(bits >> 44) & 7] if comment_id > 8 else ATTACHMENTS[comment_id - 1],
            SCREENSHOTS[(bits >> 48) & 7] if comment_id > 8 else SCREENSHOTS[comment_id - 1],
        )
