"""A writer load against the demo app while it is migrated, and the check that nothing it was told is lost.

`WriterLoad` is a bounded request loop against the app's own JSON API on 127.0.0.1 (`POST
/api/items/`, `PATCH` and `DELETE /api/items/<id>/`), about RATE writes a second: inserts with
tags (m2m rows), updates of its own rows and of rows that were in the file before (already in
the snapshot), deletes of both (a pre-existing item takes its events, stock level and tag links
with it: CASCADE). It runs until nothing listens on the app's port any more (the stop of the
migration: connection refused), or until it is halted, or for at most MAX_SECONDS.

Every write goes to the log file as one JSON line; a write the app ACKNOWLEDGED (a 2xx answer,
which holds the stored item) is marked so. A write that timed out, was cut off or got a 5xx (e.g.
"database is locked" while something holds a long read transaction on a rollback-journal file)
may or may not have been committed: it is logged as in doubt, its item is never touched again and
is left out of the check. `longest_gap_s` is the longest time without an acknowledged write while
the app was up: how long it could not write. `verify()` then reads every touched item back through the app, which must serve from
PostgreSQL by then: an acknowledged insert or update must be there with the acknowledged values, an
acknowledged delete must be gone.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

TAG_NAMES = ("bench-neu", "bench-ü", "bench-🔥", "bench-x")
# op -> share of the writes; update/delete pick their own rows or pre-existing ones half and half.
MIX = (("insert", 0.5), ("update", 0.3), ("delete", 0.2))
TIMEOUT = 10.0
REFUSED = 0  # the status of a request nobody listened to


def request(method, url, body=None, timeout=TIMEOUT):
    """(status, parsed JSON or None); status None when the app did not answer at all, REFUSED when
    nothing listens on its port any more (the stop)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except (OSError, ValueError) as error:  # refused, reset, timed out, a broken answer
        refused = isinstance(getattr(error, "reason", error), ConnectionRefusedError)
        return (REFUSED if refused else None), None
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, None


class WriterLoad(threading.Thread):
    """The request loop; `acked`, `in_doubt`, `rejected` count its writes, `stopped_by` says why it ended."""

    def __init__(self, base_url, log_path, rate=20.0, max_seconds=3600.0, seed=15):
        super().__init__(daemon=True)
        self.base_url = base_url.rstrip("/")
        self.log_path = log_path
        self.rate = rate
        self.max_seconds = max_seconds
        self.random = random.Random(seed)
        self.tag = "%x" % int(time.time())
        self.acked = self.in_doubt = self.rejected = self.server_errors = 0
        self.longest_gap = 0.0  # seconds without an acknowledged write while the app was up
        self.latencies = []
        self.started_at = self.last_ack_at = self.stopped_at = None
        self.stopped_by = None
        self.first_ack = threading.Event()
        self._halt = threading.Event()
        self._own, self._gone = [], set()
        self._category, self._existing = None, (0, 0)

    # -- the loop --------------------------------------------------------------------------
    def learn(self):
        """A category to file items under and the id range of the items already there."""
        status, page = request("GET", self.base_url + "/api/items/?limit=1")
        if status != 200 or not page or not page["results"]:
            raise RuntimeError("the writer load cannot read %s/api/items/ (status %s)" % (self.base_url, status))
        first = page["results"][0]
        self._category = first["category"]
        self._existing = (first["id"], first["id"] + page["count"] - 1)

    def run(self):
        self.started_at = time.time()
        with open(self.log_path, "w", encoding="utf-8") as log:
            seq, tick = 0, time.monotonic()
            while not self._halt.is_set():
                if time.time() - self.started_at > self.max_seconds:
                    self.stopped_by = "max_seconds"
                    break
                seq += 1
                if not self.write_one(seq, log):
                    self.stopped_by = "refused (the stop)"
                    break
                tick = max(tick + 1.0 / self.rate, time.monotonic())
                self._halt.wait(max(0.0, tick - time.monotonic()))
            self.stopped_by = self.stopped_by or "halted"
            self.stopped_at = time.time()
        self.first_ack.set()  # nobody waits forever for a writer that ended before its first write

    def write_one(self, seq, log):
        """One write and its log line; False when nothing listens on the app's port any more (the stop)."""
        op, item_id, method, path, body = self.next_write(seq)
        started = time.monotonic()
        status, answer = request(method, self.base_url + path, body)
        self.latencies.append(time.monotonic() - started)
        entry = {"seq": seq, "t": round(time.time(), 3), "op": op, "id": item_id, "status": status}
        if status == REFUSED:
            entry.update(ack=False, refused=True)
        elif status is not None and 200 <= status < 300:
            entry["ack"] = True
            if op == "insert":
                item_id = entry["id"] = answer["id"]
                self._own.append(item_id)
            entry["item"] = answer if op != "delete" else None
            if op == "delete":
                self._gone.add(item_id)
            self.acknowledged(entry["t"])
        elif status is None or status >= 500:
            # Timed out, cut off or a server error: maybe committed, maybe not.
            entry.update(ack=False, sent=body, answer=answer)
            self._gone.add(item_id)  # its state is unknown: never touched again
            self.in_doubt += 1
            self.server_errors += status is not None
        else:
            entry.update(ack=False, answer=answer)
            self.rejected += 1
            if status == 404:
                self._gone.add(item_id)
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        log.flush()
        return status != REFUSED

    def acknowledged(self, when):
        if self.last_ack_at is not None:
            self.longest_gap = max(self.longest_gap, when - self.last_ack_at)
        self.acked += 1
        self.last_ack_at = when
        self.first_ack.set()

    def next_write(self, seq):
        """(op, item id or None, method, path, body) of write number SEQ."""
        draw, op = self.random.random(), "insert"
        for name, share in MIX:
            if draw < share:
                op = name
                break
            draw -= share
        item_id = self.pick_item() if op != "insert" else None
        if item_id is None:
            op = "insert"
        if op == "insert":
            return op, None, "POST", "/api/items/", self.payload(seq, full=True)
        if op == "update":
            return op, item_id, "PATCH", "/api/items/%d/" % item_id, self.payload(seq, full=False)
        return op, item_id, "DELETE", "/api/items/%d/" % item_id, None

    def pick_item(self):
        for _attempt in range(20):
            if self._own and self.random.random() < 0.5:
                item_id = self.random.choice(self._own)
            else:
                item_id = self.random.randint(*self._existing)
            if item_id not in self._gone:
                return item_id
        return None

    def payload(self, seq, full):
        body = {
            "name": "bench %s #%d ünï 🚀" % (self.tag, seq),
            "price": "%d.%02d" % (self.random.randint(0, 99999), self.random.randint(0, 99)),
            "weight": self.random.choice([None, 0.1, 1 / 3, 1e-300, 123456789.12345679]),
            "tags": sorted(self.random.sample(TAG_NAMES, self.random.randint(0, 3))),
            "attributes": {"seq": seq, "größe": self.random.choice(["S", "M", "XL"]), "nested": [1, None, "x"]},
        }
        if full:
            body.update(category=self._category, description="written during the migration\nline 2",
                        note=self.random.choice([None, "", "NULL"]), active=self.random.random() < 0.8,
                        release_date=self.random.choice([None, "2024-02-29"]),
                        warranty=self.random.choice([None, "P1DT2H3M4.000005S"]),
                        thumbnail=base64.b64encode(bytes([seq % 256, 0, 255])).decode("ascii"))
        return body

    # -- control ---------------------------------------------------------------------------
    def start_and_wait(self, timeout=30.0):
        """Start the loop and wait for its first acknowledged write (the load really runs)."""
        self.learn()
        self.start()
        if not self.first_ack.wait(timeout) or not self.acked:
            self.halt()
            raise RuntimeError("the writer load got no write acknowledged by %s" % self.base_url)

    def halt(self):
        self._halt.set()
        self.join(TIMEOUT + 5)

    def summary(self):
        lat = sorted(self.latencies) or [0.0]
        return {"rate_per_s": self.rate, "acked": self.acked, "in_doubt": self.in_doubt, "rejected": self.rejected,
                "server_errors": self.server_errors, "longest_gap_s": round(self.longest_gap, 1),
                "seconds": round((self.stopped_at or time.time()) - self.started_at, 1),
                "stopped_by": self.stopped_by,
                "latency_p50_s": round(lat[len(lat) // 2], 3), "latency_p99_s": round(lat[int(len(lat) * 0.99)], 3),
                "latency_max_s": round(lat[-1], 3), "log": str(self.log_path)}


# ---------------------------------------------------------------------------------------- the check

def expected_states(log_path):
    """{item id: the acknowledged item dict, or None for deleted} from the log, and the in-doubt ids."""
    expected, doubtful = {}, set()
    with open(log_path, encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            if entry.get("ack"):
                expected[entry["id"]] = entry["item"]
            elif entry["status"] is None or entry["status"] >= 500:
                doubtful.add(entry["id"])
    for item_id in doubtful:
        expected.pop(item_id, None)
    return expected, doubtful - {None}


def verify(base_url, log_path, workers=4):
    """Read every item the log touched back through the app: {checked, inserted/updated present, deleted
    absent, in doubt}; raises AssertionError listing the first differences."""
    expected, doubtful = expected_states(log_path)
    base = base_url.rstrip("/")

    def read(item_id):
        return item_id, request("GET", "%s/api/items/%d/" % (base, item_id), timeout=30.0)

    problems, present, absent = [], 0, 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item_id, (status, answer) in pool.map(read, sorted(expected)):
            want = expected[item_id]
            if want is None:
                absent += 1
                if status != 404:
                    problems.append("item %d was deleted (acknowledged) but the app answers %s" % (item_id, status))
            else:
                present += 1
                if status != 200:
                    problems.append("item %d was written (acknowledged) but the app answers %s" % (item_id, status))
                elif answer != want:
                    diff = sorted(k for k in set(want) | set(answer) if want.get(k) != answer.get(k))
                    problems.append("item %d differs in %s: acknowledged %s, now %s" % (
                        item_id, diff, {k: want.get(k) for k in diff}, {k: answer.get(k) for k in diff}))
    if problems:
        raise AssertionError("%d of %d acknowledged writes are not on PostgreSQL as acknowledged:\n  %s" % (
            len(problems), len(expected), "\n  ".join(problems[:20])))
    return {"items_checked": len(expected), "present_as_acknowledged": present, "deleted_absent": absent,
            "in_doubt_not_checked": len(doubtful),
            "checked_at": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")}
