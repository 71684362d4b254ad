# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Comparing one table's rows as multisets, in constant memory (see content_compare).

Every row's canonical form is hashed (blake2b, 128 bits) and the hashes are summed per side in
4096 buckets (count and sum modulo 2**128); equal multisets give equal buckets. Only when a
bucket differs, a second pass reads the rows of (a bounded number of) differing buckets to name
them.
"""

from __future__ import annotations

import hashlib

BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
HASH_MASK = (1 << 128) - 1
# The second multiset pass keeps at most about this many row hashes per side in memory.
MAX_EXAMINED_ROWS = 100000



def _canon_functions(plans):
    return ([plan.canon_source for plan in plans], [plan.canon_target for plan in plans])


def canonical_row(functions, row):
    out = []
    for function, value in zip(functions, row):
        try:
            out.append(function(value))
        except Exception as error:  # keep going: the value simply cannot match
            out.append(("unreadable", type(error).__name__, repr(value)))
    return tuple(out)


def row_digest(canonical):
    return hashlib.blake2b(repr(canonical).encode("utf-8", "backslashreplace"), digest_size=16).digest()


def _bucket_pass(functions, rows, counts, sums, sign):
    total = 0
    mask = BUCKETS - 1
    for row in rows:
        value = int.from_bytes(row_digest(canonical_row(functions, row)), "big")
        bucket = value & mask
        counts[bucket] += sign
        sums[bucket] = (sums[bucket] + sign * value) & HASH_MASK
        total += 1
    return total


def _examine_pass(functions, rows, wanted, net, examples, sign, example_buckets):
    mask = BUCKETS - 1
    for row in rows:
        canonical = canonical_row(functions, row)
        digest = row_digest(canonical)
        bucket = int.from_bytes(digest, "big") & mask
        if bucket in wanted:
            net[digest] = net.get(digest, 0) + sign
            if bucket in example_buckets and digest not in examples:
                examples[digest] = canonical


def multiset_compare(spec, source_factory, target_factory, result):
    """Compare as multisets (see the module docstring). The factories give fresh row streams."""
    source_canon, target_canon = _canon_functions(spec.plans)
    counts = [0] * BUCKETS
    sums = [0] * BUCKETS
    result.source_rows = _bucket_pass(source_canon, source_factory(), counts, sums, 1)
    result.target_rows = _bucket_pass(target_canon, target_factory(), counts, sums, -1)
    differing = [b for b in range(BUCKETS) if counts[b] or sums[b]]
    if not differing:
        return result
    rows = max(result.source_rows, result.target_rows, 1)
    limit = max(1, MAX_EXAMINED_ROWS * BUCKETS // rows)
    wanted = set(differing[:limit])
    example_buckets = set(differing[:max(result.max_reported, 1)])
    result.lower_bound = len(differing) > len(wanted)
    net, examples = {}, {}
    _examine_pass(source_canon, source_factory(), wanted, net, examples, 1, example_buckets)
    _examine_pass(target_canon, target_factory(), wanted, net, examples, -1, example_buckets)
    _report_multiset(spec, result, net, examples)
    return result


def _report_multiset(spec, result, net, examples):
    key_len = spec.key_len
    missing, extra = [], []
    # Rows whose values were kept come first: they are the ones a report can show.
    for digest, count in sorted(net.items(), key=lambda item: item[0] not in examples):
        if count > 0:
            missing.extend([digest] * count)
        elif count < 0:
            extra.extend([digest] * -count)
    # A changed row shows as one missing and one extra row with the same key: pair them.
    extra_by_key = {}
    if key_len:
        for digest in extra:
            if digest in examples:
                extra_by_key.setdefault(examples[digest][:key_len], []).append(digest)
    paired = set()
    for digest in missing:
        canonical = examples.get(digest)
        partner = None
        if key_len and canonical is not None and extra_by_key.get(canonical[:key_len]):
            partner = extra_by_key[canonical[:key_len]].pop()
            paired.add(partner)
        if partner is not None:
            other = examples[partner]
            indexes = [i for i in range(len(canonical)) if canonical[i] != other[i]]
            result.add_changed(canonical[:key_len], indexes, canonical, other)
        else:
            result.add_missing(_multiset_key(spec, canonical), canonical)
    for digest in extra:
        if digest in paired:
            paired.discard(digest)
            continue
        canonical = examples.get(digest)
        result.add_extra(_multiset_key(spec, canonical), canonical)


def _multiset_key(spec, canonical):
    if canonical is not None and spec.key_len:
        return canonical[:spec.key_len]
    return ()
