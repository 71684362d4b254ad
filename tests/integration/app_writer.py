"""A writer that changes the demo app through its own URL while a migration runs, and logs what it wrote.

Each write is one request: insert an item (with tags), update one (name, price), change its tags (m2m),
add an event to it, or delete an item with its events and stock level (CASCADE). A write counts as
written only when the app answered it; a request cut off by the stop is "uncertain" and its item is
left out of the comparison. The log keeps the journal state of the run at each answered write, so a
test can show that the app wrote in every phase of the online window.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request


class Writer(threading.Thread):
    """Writes to the app at BASE (http://host:port) until stopped; `expected` is the final state it wrote."""

    def __init__(self, base, state_of_run, known_items, seed=15, pause=0.03):
        super().__init__(daemon=True)
        self.base = base
        self.state_of_run = state_of_run
        self.random = random.Random(seed)
        self.pause = pause
        self.halt = threading.Event()
        self.items = {}  # id -> {"name", "tags", "events": set()} or None when deleted
        self.known = list(known_items)  # generated items it may update or delete
        self.uncertain = set()
        self.phases = {}  # journal state -> answered writes
        self.answered = 0
        self.refused = 0
        self.errors = []

    # -- requests ------------------------------------------------------------------------
    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return json.loads(raw) if raw else None

    def _write(self, item_id, method, path, body=None):
        """One write; True when the app answered 2xx. A cut-off request makes ITEM_ID uncertain."""
        try:
            answer = self._call(method, path, body)
        except urllib.error.HTTPError as error:  # answered, and nothing written
            self.errors.append("%s %s: %s %s" % (method, path, error.code, error.read()[:300]))
            return None
        except (OSError, ValueError) as error:
            if not isinstance(getattr(error, "reason", error), ConnectionRefusedError):
                self.uncertain.add(item_id)  # sent, but the answer never came: it may or may not have committed
            self.refused += 1
            return None
        self.answered += 1
        state = self.state_of_run()
        self.phases[state] = self.phases.get(state, 0) + 1
        return answer if answer is not None else {}

    # -- the operations ------------------------------------------------------------------
    def insert(self):
        name = "online writer %d" % self.random.randrange(10**9)
        tags = self.random.sample(["neu", "sale", "eco", "bio"], 2)
        body = {"name": name, "category": 1, "price": "3.25", "tags": tags, "attributes": {"w": 1}}
        answer = self._write(None, "POST", "/api/items/", body)
        if answer:
            self.items[answer["id"]] = {"name": name, "tags": sorted(tags), "events": set()}

    def _alive(self, own_only=False):
        pool = [key for key, value in self.items.items() if value is not None and key not in self.uncertain]
        if not own_only:
            pool += [key for key in self.known if key not in self.items and key not in self.uncertain]
        return self.random.choice(pool) if pool else None

    def update(self):
        item_id = self._alive()
        if item_id is None:
            return
        name = "renamed %d" % self.random.randrange(10**9)
        if self._write(item_id, "PATCH", "/api/items/%d/" % item_id, {"name": name, "price": "7.50"}) is not None:
            entry = self.items.setdefault(item_id, {"tags": None, "events": set()})
            entry["name"] = name

    def retag(self):
        item_id = self._alive()
        if item_id is None:
            return
        tags = sorted(self.random.sample(["neu", "sale", "eco", "bio", "hot"], self.random.randrange(0, 3)))
        if self._write(item_id, "PATCH", "/api/items/%d/" % item_id, {"tags": tags}) is not None:
            entry = self.items.setdefault(item_id, {"name": None, "events": set()})
            entry["tags"] = tags

    def add_event(self):
        item_id = self._alive(own_only=True)
        if item_id is None:
            return
        answer = self._write(item_id, "POST", "/api/items/%d/events/" % item_id, {"kind": "online", "payload": [1]})
        if answer:
            self.items[item_id]["events"].add(answer["id"])

    def delete(self):
        item_id = self._alive()
        if item_id is None:
            return
        if self._write(item_id, "DELETE", "/api/items/%d/" % item_id) is not None:
            self.items[item_id] = None

    def run(self):
        operations = [self.insert] * 4 + [self.update] * 2 + [self.retag] * 2 + [self.add_event] * 3 + [self.delete]
        while not self.halt.is_set():
            self.random.choice(operations)()
            time.sleep(self.pause)

    def stop(self):
        self.halt.set()
        self.join(timeout=30)

    # -- the comparison ------------------------------------------------------------------
    def expected(self):
        """{item id: state} of every item written, uncertain ones left out."""
        return {key: value for key, value in self.items.items() if key not in self.uncertain}


def missing_writes(writer, rows_of):
    """The differences between what WRITER wrote and the database read by ROWS_OF(sql, args)."""
    problems = []
    for item_id, state in writer.expected().items():
        found = rows_of("SELECT name FROM inventory_item WHERE id = %s", (item_id,))
        if state is None:
            if found:
                problems.append("item %d was deleted but is there" % item_id)
            if rows_of("SELECT id FROM inventory_event WHERE item_id = %s", (item_id,)):
                problems.append("item %d was deleted but its events are there" % item_id)
            continue
        if not found:
            problems.append("item %d is missing" % item_id)
            continue
        if state.get("name") is not None and found[0][0] != state["name"]:
            problems.append("item %d is named %r, not %r" % (item_id, found[0][0], state["name"]))
        if state.get("tags") is not None:
            tags = sorted(row[0] for row in rows_of(
                "SELECT t.name FROM inventory_tag t JOIN inventory_item_tags it ON it.tag_id = t.id "
                "WHERE it.item_id = %s", (item_id,)))
            if tags != state["tags"]:
                problems.append("item %d has tags %s, not %s" % (item_id, tags, state["tags"]))
        events = {row[0] for row in rows_of("SELECT id FROM inventory_event WHERE item_id = %s", (item_id,))}
        if not state["events"] <= events:
            problems.append("item %d lacks events %s" % (item_id, sorted(state["events"] - events)))
    return problems
