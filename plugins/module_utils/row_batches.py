# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading rows in batches, the one helper every streaming reader uses (content comparison, the copy
engine): fetchmany() sized to bound memory, and a prefetch thread that reads the next batches
while the caller works on the previous ones."""

from __future__ import annotations

import itertools
import queue
import threading

FIRST_BATCH_ROWS = 500
TARGET_BATCH_BYTES = 4 * 1024 * 1024
_CURSOR_IDS = itertools.count(1)



class BatchSizer(object):
    """Rows per fetch: at most LIMIT, and about TARGET_BATCH_BYTES of Python objects per batch.

    Starts small and adapts to the width measured on each batch, so wide rows (long text, big
    blobs) do not multiply memory by the batch size.
    """

    def __init__(self, limit):
        self.limit = max(1, limit)
        self.size = min(self.limit, FIRST_BATCH_ROWS)

    def update(self, rows):
        step = max(1, len(rows) // 64)
        sample = rows[::step]
        per_row = sum(_row_bytes(row) for row in sample) / float(len(sample))
        self.size = int(max(1, min(self.limit, TARGET_BATCH_BYTES // max(per_row, 1))))


def _row_bytes(row):
    total = 64 + 16 * len(row)
    for value in row:
        if value.__class__ is str or value.__class__ is bytes:
            total += 40 + len(value)
        else:
            total += 32
    return total


def batches(cursor, batch_rows, adaptive=True):
    """Lists of rows fetched from an executed CURSOR (sqlite3 or psycopg2) until it is exhausted.

    ADAPTIVE: BatchSizer picks the rows per fetch (at most BATCH_ROWS); else BATCH_ROWS each time.
    The cursor is closed when the stream ends or is closed.
    """
    sizer = BatchSizer(batch_rows) if adaptive else None
    size = sizer.size if adaptive else max(1, batch_rows)
    try:
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            if sizer is not None:
                sizer.update(rows)
                size = sizer.size
            yield rows
    finally:
        cursor.close()


def server_side_batches(conn, query, batch_rows):
    """batches() of QUERY through a server-side (named) psycopg2 cursor: one batch per round trip."""
    cursor = conn.cursor(name="pgmigrate_compare_%d" % next(_CURSOR_IDS))
    try:
        cursor.execute(query)
    except Exception:
        cursor.close()
        raise
    yield from batches(cursor, batch_rows)


_END = object()


class Prefetch(object):
    """Read batches in a thread while the caller compares the previous ones.

    psycopg2 and sqlite3 release the GIL while they wait for the server or the disk, so reading
    one side overlaps with the comparison. At most DEPTH batches wait in the queue: memory
    stays bounded. Errors are raised in the caller.
    """

    def __init__(self, batches, depth=2):
        self._batches = batches
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgmigrate-prefetch")
        self._thread.daemon = True
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        try:
            for batch in self._batches:
                if not self._put(batch):
                    break
            self._put(_END)
        except BaseException as error:  # handed to the caller, re-raised there
            self._put(error)
        finally:
            try:
                self._batches.close()
            except Exception:  # closing after a failed read: the read error is what counts
                pass

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


def flatten(batches_of_rows):
    """The rows of a stream of batches, one by one."""
    for batch in batches_of_rows:
        yield from batch
