"""Unit tests of the pgloader summary CSV parser, reject-log reader and version parser.

The sample texts are pgloader 3.6.9's real output (Debian package), captured on this project's
test data: Chinook with `quote identifiers`, type-mismatch.db and a reject run.
"""

from __future__ import annotations

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import pgloader_summary as ps

CHINOOK_SUMMARY = (
    '"fetch";0;0;0;0;"0.000s"\n'
    '"fetch meta data";22;22;0;0;"0.132s"\n'
    '"Drop Foreign Keys";22;22;0;0;"0.012s"\n'
    '"Truncate";11;11;0;0;"0.024s"\n'
    '"\\"Album\\"";347;347;0;10743;"0.304s"\n'
    '"\\"Artist\\"";275;275;0;6960;"0.288s"\n'
    '"\\"PlaylistTrack\\"";8715;8715;0;58688;"0.416s"\n'
    '"COPY Threads Completion";4;4;0;0;"0.684s"\n'
    '"Create Foreign Keys";11;11;0;0;"0.012s"\n'
    '"Install Comments";0;0;0;0;"0.000s"'  # no newline at the end, as pgloader writes it
)
MISMATCH_SUMMARY = (
    '"fetch";0;0;0;0;"0.000s"\n'
    '"fetch meta data";1;1;0;0;"0.028s"\n'
    '"Truncate";1;1;0;0;"0.004s"\n'
    '"products";3;0;2;0;"0.044s"\n'
    '"COPY Threads Completion";4;4;0;0;"0.048s"\n'
)


def test_parse_summary_reads_every_line_with_numbers():
    entries = ps.parse_summary(CHINOOK_SUMMARY)
    assert len(entries) == 10
    album = entries[4]
    assert album == {"label": '"Album"', "read": 347, "imported": 347, "errors": 0, "bytes": 10743, "seconds": 0.304}
    assert entries[-1]["label"] == "Install Comments"


def test_table_entries_match_quoted_and_plain_labels_and_skip_phases():
    found = ps.table_entries(ps.parse_summary(CHINOOK_SUMMARY), ["Album", "Artist", "PlaylistTrack", "Track"])
    assert sorted(found) == ["Album", "Artist", "PlaylistTrack"]  # Track absent: never reported
    assert found["PlaylistTrack"]["imported"] == 8715
    mismatch = ps.table_entries(ps.parse_summary(MISMATCH_SUMMARY), ["products", "truncate"])
    assert mismatch["products"]["read"] == 3 and mismatch["products"]["imported"] == 0
    assert mismatch["products"]["errors"] == 2
    assert "truncate" not in mismatch  # the phase "Truncate" is not the table "truncate"


def test_table_entries_schema_qualified_and_folded_labels():
    entries = ps.parse_summary('"public.app_item";5;5;0;10;"0.1s"\n"\\"app\\".\\"Odd;Name\\"";2;1;0;1;"0.2s"\n')
    found = ps.table_entries(entries, ["app_item", "Odd;Name"])
    assert found["app_item"]["read"] == 5
    assert found["Odd;Name"]["imported"] == 1   # a ';' inside the label does not split it


@pytest.mark.parametrize("text, seconds", [
    ("0.000s", 0.0),
    ("0.492s", 0.492),
    ("12.345s", 12.345),
    ("1m2.500s", 62.5),
    ("2h0m3.000s", 7203.0),
    ("1 days 1h1m1.000s", 90061.0),
    (" 0.5s ", 0.5),
])
def test_parse_duration(text, seconds):
    assert ps.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1.5 parsecs"])
def test_parse_duration_refuses_garbage(bad):
    with pytest.raises(ps.SummaryError):
        ps.parse_duration(bad)


@pytest.mark.parametrize("bad", ['"t";1;2;3;"0.1s"', '"t";x;1;0;0;"0.1s"'])
def test_parse_summary_refuses_malformed_lines(bad):
    with pytest.raises(ps.SummaryError, match="line 1"):
        ps.parse_summary(bad)


def test_read_summary_missing_or_empty(tmp_path):
    with pytest.raises(ps.SummaryError, match="wrote no summary"):
        ps.read_summary(str(tmp_path / "none.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ps.SummaryError, match="empty"):
        ps.read_summary(str(empty))


REJECT_LOG = (
    "Database error 22001: value too long for type character varying(5)\n"
    'CONTEXT: COPY t, line 3, column s: "xxxxxxxxxx"\n'
    "Database error 22001: value too long for type character varying(5)\n"
    'CONTEXT: COPY t, line 1, column s: "xxxxxxxxxx"\n'
    'Database error 22003: value "3000000000" is out of range for type integer\n'
    'CONTEXT: COPY t, line 5, column n: "3000000000"\n'
)


def test_read_reject_reasons(tmp_path):
    table_dir = tmp_path / "t"
    table_dir.mkdir()
    (table_dir / "t.log").write_text(REJECT_LOG)
    (table_dir / "t.dat").write_text("7\txxxxxxxxxx\t7\n")  # rows: never read back
    (tmp_path / "pgloader.log").write_text("LOG not a reject log\n")
    reasons = ps.read_reject_reasons(str(tmp_path), ["t"], limit=2)
    assert reasons == {"t": [
        'Database error 22001: value too long for type character varying(5) '
        '(CONTEXT: COPY t, line 3, column s: "xxxxxxxxxx")',
        'Database error 22001: value too long for type character varying(5) '
        '(CONTEXT: COPY t, line 1, column s: "xxxxxxxxxx")',
    ]}
    everything = ps.read_reject_reasons(str(tmp_path), ["T"], limit=10)
    assert len(everything["T"]) == 3 and "out of range for type integer" in everything["T"][2]
    assert ps.read_reject_reasons(str(tmp_path / "missing"), ["t"]) == {}


def test_parse_version():
    out = 'pgloader version "3.6.7~devel"\ncompiled with SBCL 2.2.9.debian\n'
    assert ps.parse_version(out) == "3.6.7~devel"
    assert ps.parse_version("something else") is None
