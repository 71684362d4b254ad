"""A stand-in for the app writing to its live SQLite file during the online window (its own process).

python online_writer.py DB STOP_FILE REPORT SEED [MAX_SECONDS]

Writes until STOP_FILE exists (or MAX_SECONDS pass), one small transaction at a time with
PRAGMA foreign_keys=ON as Django's connections do, then writes a JSON report {op: count}. The ops
cover what the capture must follow: inserts, updates, deletes, a primary key change, m2m rows
added and removed, a parent deleted with its m2m rows and events (as Django's collector does),
INSERT OR REPLACE on a unique pair (deletes without a delete trigger), ON DELETE/UPDATE CASCADE
children, a keyless table and a WITHOUT ROWID table (the online_* tables of the test).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time


def one(conn, query, args=()):
    row = conn.execute(query, args).fetchone()
    return row[0] if row else None


def insert_item(conn, rng):
    columns = [row[1] for row in conn.execute("PRAGMA table_info(inventory_item)") if row[1] not in ("id", "uuid")]
    template = one(conn, "SELECT id FROM inventory_item ORDER BY random() LIMIT 1")
    names = ", ".join('"%s"' % c for c in columns)
    conn.execute("INSERT INTO inventory_item (uuid, %s) SELECT lower(hex(randomblob(16))), %s FROM inventory_item "
                 "WHERE id = ?" % (names, names), (template,))
    item = one(conn, "SELECT last_insert_rowid()")
    tag = one(conn, "SELECT id FROM inventory_tag ORDER BY random() LIMIT 1")
    conn.execute("INSERT OR IGNORE INTO inventory_item_tags (item_id, tag_id) VALUES (?, ?)", (item, tag))
    conn.execute("INSERT INTO inventory_event (kind, happened_at, payload, item_id) VALUES ('created', "
                 "'2026-12-03 14:00:00.123456', '{\"by\": \"writer\"}', ?)", (item,))


def update_item(conn, rng):
    conn.execute("UPDATE inventory_item SET name = substr(name, 1, 150) || ' w%d', price = 7.25, "
                 "note = NULL WHERE id = (SELECT id FROM inventory_item ORDER BY random() LIMIT 1)" % rng.randint(0, 99))


def delete_item(conn, rng):
    """A parent deleted with its children, as Django's collector does (events, m2m rows, then the item)."""
    item = one(conn, "SELECT id FROM inventory_item WHERE id > ? ORDER BY random() LIMIT 1", (BASE[0],))
    if item is None:
        return
    conn.execute("DELETE FROM inventory_event WHERE item_id = ?", (item,))
    conn.execute("DELETE FROM inventory_item_tags WHERE item_id = ?", (item,))
    conn.execute("DELETE FROM inventory_item WHERE id = ?", (item,))


def m2m_add(conn, rng):
    item = one(conn, "SELECT id FROM inventory_item ORDER BY random() LIMIT 1")
    tag = one(conn, "SELECT id FROM inventory_tag ORDER BY random() LIMIT 1")
    conn.execute("INSERT OR IGNORE INTO inventory_item_tags (item_id, tag_id) VALUES (?, ?)", (item, tag))


def m2m_remove(conn, rng):
    conn.execute("DELETE FROM inventory_item_tags WHERE id = (SELECT id FROM inventory_item_tags ORDER BY random() "
                 "LIMIT 1)")


def m2m_replace(conn, rng):
    # A new id for an existing (item, tag) pair: SQLite deletes the old row without a delete trigger.
    pair = conn.execute("SELECT item_id, tag_id FROM inventory_item_tags ORDER BY random() LIMIT 1").fetchone()
    if pair:
        conn.execute("INSERT OR REPLACE INTO inventory_item_tags (item_id, tag_id) VALUES (?, ?)", pair)


def parent_cascade(conn, rng):
    parent = one(conn, "SELECT id FROM online_parent ORDER BY random() LIMIT 1")
    if parent is not None and rng.random() < 0.5:
        conn.execute("DELETE FROM online_parent WHERE id = ?", (parent,))  # children by ON DELETE CASCADE
        return
    conn.execute("INSERT INTO online_parent (name) VALUES (?)", ("p%d" % rng.randint(0, 10 ** 9),))
    new = one(conn, "SELECT last_insert_rowid()")
    for index in range(rng.randint(1, 3)):
        conn.execute("INSERT INTO online_child (parent_id, note) VALUES (?, ?)", (new, "c%d" % index))


def primary_key_change(conn, rng):
    # children follow by ON UPDATE CASCADE (their update triggers fire)
    conn.execute("UPDATE online_parent SET id = -id WHERE id = (SELECT min(id) FROM online_parent WHERE id > 0)")


def keyless_and_without_rowid(conn, rng):
    conn.execute("INSERT INTO online_log (msg, n) VALUES (?, ?)", ("m%d" % rng.randint(0, 999), rng.randint(0, 9)))
    conn.execute("INSERT OR REPLACE INTO online_pair (a, b, v) VALUES (?, ?, ?)",
                 ("k%d" % rng.randint(0, 20), rng.randint(0, 3), "v%d" % rng.randint(0, 999)))


BASE = [0]  # items above this id were made by the writer (they have no children but ours)
OPS = [insert_item, update_item, update_item, delete_item, m2m_add, m2m_remove, m2m_replace, parent_cascade,
       primary_key_change, keyless_and_without_rowid]


def main():
    path, stop_file, report, seed = sys.argv[1:5]
    max_seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    rng = random.Random(int(seed))
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    BASE[0] = one(conn, "SELECT max(id) FROM inventory_item")
    done, deadline = {}, time.monotonic() + max_seconds
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        op = rng.choice(OPS)
        conn.execute("BEGIN IMMEDIATE")  # Django's transaction_mode IMMEDIATE: waits for the lock, never deadlocks
        try:
            op(conn, rng)
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        done[op.__name__] = done.get(op.__name__, 0) + 1
        time.sleep(0.02)  # ~40 writes/s: a busy app, not a CPU hog on a shared machine
    conn.close()
    with open(report, "w") as handle:
        json.dump(done, handle)


if __name__ == "__main__":
    main()
