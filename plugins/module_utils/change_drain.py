# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""apply_changes while the app still writes (app_writing): drain the change log ahead of the downtime.

The log is read up to its last seq (TOP) first; every key logged up to then is applied and compared.
A row may differ because the app wrote it again after TOP: such a key is logged after TOP, so the
downtime (after_seq=TOP) applies and verifies it. A difference is therefore accepted only for a key
logged again after TOP (a table without a key: any entry after TOP, as the downtime re-copies it);
any other difference, or any error, rolls the drain back and leaves the watermark where it was, so
the downtime applies everything since the snapshot. A key that is not logged after TOP did not change
since it was compared: its row is final and verified.
"""

from __future__ import annotations

import json

from ansible_collections.pgmigrate.django.plugins.module_utils import change_log


class ChangedAgain(object):
    """The keys of TABLE logged after TOP, and whether a difference of TABLE is explained by them."""

    def __init__(self, sconn, table, top):
        self.table = table
        self.keys = set()
        self.keyless = False
        rows = sconn.execute("SELECT DISTINCT key FROM %s WHERE table_name = ? AND seq > ?" % change_log.LOG_TABLE,
                             (table.source, top))
        for (key,) in rows:
            if key is None:
                self.keyless = True
            else:
                self.keys.add(tuple(json.loads(key)))

    def max_reported(self, default):
        """Enough samples to see every difference that the keys logged again could explain, and one more."""
        return max(default, len(self.keys) + 1)

    def accepts_any(self):
        """A table without a usable key: any entry after TOP makes the downtime re-copy it whole."""
        return bool(self.keys) or self.keyless

    def accepts(self, result):
        """True when every difference in RESULT (a content_compare.TableResult) is a key logged again."""
        if not result.mismatches:
            return True
        if result.error:
            return False
        if not self.table.keyed:
            return self.accepts_any()
        if result.mismatches > len(result.samples):
            return False
        columns = result.spec.key_columns
        return all(tuple(sample["key"].get(column) for column in columns) in self.keys for sample in result.samples)


def finish(apply, tables, problems):
    """Commit the drain when nothing is left unexplained, else roll it back and say why (never fails)."""
    result = apply.result
    result.update(tables=tables, changes=sum(t["changes"] for t in tables), rows_checked=sum(t["verified"] for t in tables))
    if problems:
        not_drained(apply.conn, result, "rows differ that the app did not write again: %s" % "; ".join(problems[:5]),
                    problems)
        return
    apply.conn.commit()
    result.update(drained=True, changed=any(t["upserted"] or t["deleted"] or t["recopied"] or t["reconciled"]
                                            for t in tables))


def not_drained(conn, result, why, problems=()):
    """Nothing of the drain is kept; the watermark stays where it was (the downtime applies it all)."""
    if conn is not None:
        try:
            conn.rollback()
        except Exception:  # pylint: disable=broad-except
            pass
    result.update(drained=False, changed=False, drain_note="not drained, nothing kept (the downtime applies every "
                  "change since the watermark): %s" % why, problems=list(problems), next_watermark=result["watermark"])
