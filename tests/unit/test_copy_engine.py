"""The copy engine's converters: SQLite values to COPY CSV fields, chosen by the target column (no PostgreSQL).

The lines are built by SQLite itself (in memory here) and read back with Python's csv module, the
way PostgreSQL's COPY ... (FORMAT csv) reads them: a quoted field is text, an unquoted empty one NULL.
"""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from ansible_collections.pgmigrate.django.plugins.module_utils import copy_engine as ce
from ansible_collections.pgmigrate.django.plugins.module_utils import copy_table as ct


def column(name, udt, type_=None, notnull=False):
    return {"name": name, "udt": udt, "type": type_ or udt, "notnull": notnull, "max_length": None,
            "identity": "", "default": None}


def build(declared, targets, rows, key="id"):
    """A SQLite table with DECLARED columns {name: type} holding ROWS, and its TableCopy to TARGETS."""
    conn = sqlite3.connect(":memory:")
    conn.text_factory = bytes
    conn.execute("CREATE TABLE t (%s)" % ", ".join(
        '"%s" %s%s' % (name, type_, " PRIMARY KEY" if name == key else "") for name, type_ in declared.items()))
    conn.executemany("INSERT INTO t VALUES (%s)" % ", ".join("?" * len(declared)), rows)
    source_columns = [{"name": name, "type": type_.lower(), "notnull": False, "pk": 1 if name == key else 0}
                      for name, type_ in declared.items()]
    entry = {"source": "t", "target": "t", "source_columns": source_columns, "target_columns": targets,
             "column_pairs": [(c["name"], c["name"]) for c in targets], "rows": len(rows)}
    return conn, ct.TableCopy(entry, "public")


def fields(conn, table):
    """[[field or None]] as COPY CSV reads the table's lines (None: an unquoted empty field, NULL)."""
    data = b"".join(table.chunks(conn.execute(table.select), [0]))
    parsed = []
    for line in csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""), strict=True):
        parsed.append(line)
    # csv hides the quoting: find NULLs (unquoted empty fields) on the raw text
    nulls = []
    for raw in _records(data):
        nulls.append([f == b"" for f in _raw_fields(raw)])
    return [[None if null else value for value, null in zip(row, null_row)] for row, null_row in zip(parsed, nulls)]


def _records(data):
    record, quoted = bytearray(), False
    for byte in data:
        char = bytes([byte])
        if char == b'"':
            quoted = not quoted
        if char == b"\n" and not quoted:
            yield bytes(record)
            record = bytearray()
        else:
            record += char


def _raw_fields(record):
    out, field, quoted = [], bytearray(), False
    for byte in record:
        char = bytes([byte])
        if char == b'"':
            quoted = not quoted
        if char == b"," and not quoted:
            out.append(bytes(field))
            field = bytearray()
        else:
            field += char
    out.append(bytes(field))
    return out


@pytest.mark.parametrize("declared, expected", [
    ("integer", "integer"), ("bigint", "integer"), ("varchar(200)", "text"), ("char(32)", "text"),
    ("text", "text"), ("clob", "text"), ("blob", "blob"), ("", "blob"), (None, "blob"), ("real", "real"),
    ("double precision", "real"), ("float", "real"), ("decimal", "numeric"), ("bool", "numeric"),
    ("datetime", "numeric"), ("json", "numeric"), ("numeric(10,2)", "numeric"), ("charint", "integer"),
])
def test_affinity_follows_sqlite_rules(declared, expected):
    assert ct.affinity(declared) == expected


def test_exact_field_prints_reals_as_the_shortest_text_that_gives_them_back():
    assert ct.exact_field(0.30000000000000004) == b"0.30000000000000004"
    assert ct.exact_field(12345678.9) == b"12345678.9"
    assert ct.exact_field(1e16) == b"1e+16"
    assert ct.exact_field(2.2250738585072014e-308) == b"2.2250738585072014e-308"
    assert ct.exact_field(-7) == b"-7" and ct.exact_field(2 ** 63 - 1) == b"9223372036854775807"
    assert ct.exact_field(None) == b"" and ct.exact_field(b"") == b'""'
    assert ct.exact_field(b'12.30') == b'"12.30"' and ct.exact_field(b'say "x", ok') == b'"say ""x"", ok"'


def test_interval_field_is_pgloaders_microseconds_text_and_never_rounds():
    assert ct.interval_field(-86400000000) == b"-86400000000 microseconds"
    assert ct.interval_field(3.0e6) == b"3000000 microseconds"
    assert ct.interval_field(None) == b""
    # a fraction of a microsecond cannot be stored: text PostgreSQL refuses, so the row is rejected
    assert ct.interval_field(1.5) == b'"1.5 microseconds (not a whole number)"'
    assert ct.interval_field(b"12") == b'"12 microseconds"'


@pytest.mark.parametrize("udt, declared, how", [
    ("int8", "integer", "sql"), ("bool", "bool", "sql"), ("bytea", "blob", "sql"), ("text", "text", "sql"),
    ("varchar", "varchar(20)", "sql"), ("timestamptz", "datetime", "sql"), ("date", "date", "sql"),
    ("uuid", "char(32)", "sql"), ("jsonb", "text", "sql"), ("interval", "text", "sql"),
    # REAL values possible (affinity not TEXT) and the kind keeps them: printed by Python
    ("numeric", "decimal", "python"), ("float8", "real", "python"), ("jsonb", "json", "python"),
    ("interval", "bigint", "python"), ("text", "", "python"), ("varchar", "numeric", "python"),
    ("inet", "blob", "python"),
])
def test_column_field_uses_sql_unless_a_real_could_lose_digits(udt, declared, how):
    assert ct.column_field("c", declared, column("c", udt))[0] == how


def test_django_like_row_converts_every_type():
    declared = {"id": "integer", "uuid": "char(32)", "name": "varchar(20)", "note": "varchar(20)", "price": "decimal",
                "weight": "real", "active": "bool", "created": "datetime", "day": "date", "warranty": "bigint",
                "attrs": "text", "thumb": "BLOB"}
    targets = [column("id", "int8"), column("uuid", "uuid"), column("name", "varchar", "character varying(20)"),
               column("note", "varchar", "character varying(20)"), column("price", "numeric", "numeric(12,2)"),
               column("weight", "float8"), column("active", "bool"), column("created", "timestamptz"),
               column("day", "date"), column("warranty", "interval"), column("attrs", "jsonb"),
               column("thumb", "bytea")]
    rows = [
        (1, "0f8fad5bd9cb469fa16570867728950e", 'Quote " and, comma', None, "12.30", 0.30000000000000004, 1,
         "2024-02-29 12:00:00.500000", "2000-02-29", -86400000000, '{"a": "ü\\n"}', b"\x00\xff\\N"),
        (2, "a" * 32, "Multi\nline\r\n", "", "100", None, 0, "1970-01-01 00:00:00", None, None, "null", None),
        (3, "b" * 32, "\\N", "NULL", 0.1, 1e16, 1.0, "2038-01-19 03:14:08.000001", "1900-01-01", 0, "[]", b""),
    ]
    conn, table = build(declared, targets, rows)
    assert [i for i, _f in table.python] == [1, 2, 4]  # price, weight, then warranty, between SQL segments
    assert fields(conn, table) == [
        ["1", "0f8fad5bd9cb469fa16570867728950e", 'Quote " and, comma', None, "12.3", "0.30000000000000004", "1",
         "2024-02-29 12:00:00.500000", "2000-02-29", "-86400000000 microseconds", '{"a": "ü\\n"}', "\\x00FF5C4E"],
        ["2", "a" * 32, "Multi\nline\r\n", "", "100", None, "0", "1970-01-01 00:00:00", None, None, "null", None],
        ["3", "b" * 32, "\\N", "NULL", "0.1", "1e+16", "1", "2038-01-19 03:14:08.000001", "1900-01-01",
         "0 microseconds", "[]", "\\x"],
    ]
    assert table.columns == [c["name"] for c in targets]


def test_single_integer_column_table_is_text_too():
    conn, table = build({"id": "integer"}, [column("id", "int4")], [(1,), (2 ** 31 - 1,)])
    assert fields(conn, table) == [["1"], ["2147483647"]]


def test_line_ending_in_a_python_field():
    conn, table = build({"id": "integer", "price": "decimal", "w": "bigint"},
                        [column("id", "int8"), column("price", "numeric"), column("w", "interval")],
                        [(1, "12.30", 5), (2, None, None)])
    assert table.newline == b"\n" and [i for i, _f in table.python] == [1, 2]
    data = b"".join(table.chunks(conn.execute(table.select), [0]))
    assert data == b"1,12.3,5 microseconds\n2,,\n"
    assert table.keyed_lines(conn.execute(table.key_select).fetchall()) == [
        (1, b"1,12.3,5 microseconds\n"), (2, b"2,,\n")]


def test_values_that_do_not_fit_go_as_quoted_text_for_postgresql_to_refuse():
    declared = {"id": "integer", "qty": "integer", "flag": "bool", "blob_text": "text"}
    targets = [column("id", "int8"), column("qty", "int4"), column("flag", "bool"), column("blob_text", "text")]
    rows = [(1, "lots-of-it", 2, b"caf\xe9"), (2, 2.5, 0.5, "ok"), (3, None, None, None)]
    conn, table = build(declared, targets, rows)
    data = b"".join(table.chunks(conn.execute(table.select), [0]))
    # invalid UTF-8 is kept as it is: PostgreSQL refuses it
    assert data.split(b"\n") == [b'1,"lots-of-it",2,"caf\xe9"', b'2,"2.5","0.5","ok"', b"3,,,", b""]


def test_nul_bytes_are_never_cut():
    conn, table = build({"id": "integer", "t": "text"}, [column("id", "int8"), column("t", "text")],
                        [(1, b"before\x00after".decode("latin-1"))])
    conn.execute("UPDATE t SET t = 'before' || char(0) || 'after'")
    data = b"".join(table.chunks(conn.execute(table.select), [0]))
    assert data == b'1,"before\x00after"\n'  # PostgreSQL refuses the NUL: the row is rejected, not cut


def test_chunks_count_rows_and_stay_bounded(monkeypatch):
    monkeypatch.setattr(ct, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(ct, "FETCH_ROWS", 10)
    rows = [(i, "x" * 100) for i in range(1, 101)]
    conn, table = build({"id": "integer", "t": "text"}, [column("id", "int8"), column("t", "text")], rows)
    counter = [0]
    chunks = list(table.chunks(conn.execute(table.select), counter))
    assert counter == [100] and len(chunks) > 1
    assert all(len(c) < 1000 + 10 * 110 for c in chunks) and len(chunks) == 10
    assert b"".join(chunks).count(b"\n") == 100 and all(c.endswith(b"\n") for c in chunks)


def test_keyed_lines_name_each_row_for_the_careful_retry():
    declared = {"id": "integer", "w": "real", "t": "text"}
    targets = [column("id", "int8"), column("w", "float8"), column("t", "text")]
    conn, table = build(declared, targets, [(7, 0.5, "a"), (14, None, "b")])
    assert table.key == '"id"' and table.key_name == "id"
    keyed = table.keyed_lines(conn.execute(table.key_select).fetchall())
    assert keyed == [(7, b'7,0.5,"a"\n'), (14, b'14,,"b"\n')]
    plain_conn, plain = build({"a": "text"}, [column("a", "text")], [("x",)], key=None)
    assert plain.key == "rowid"
    assert plain.keyed_lines(plain_conn.execute(plain.key_select).fetchall()) == [(1, b'"x"\n')]


def test_columns_follow_the_target_order_and_skip_target_only_columns():
    conn, table = build({"b": "text", "a": "integer"}, [column("a", "int8"), column("b", "text")], [("x", 1)],
                        key=None)
    assert table.columns == ["a", "b"]
    assert fields(conn, table) == [["1", "x"]]


def test_foreign_keys_touching_loaded_tables_are_dropped():
    fks = [{"name": "a_b", "table": "a", "ref_table": "b", "definition": "FOREIGN KEY (b_id) REFERENCES b(id)"},
           {"name": "c_d", "table": "c", "ref_table": "d", "definition": "FOREIGN KEY (d_id) REFERENCES d(id)"},
           {"name": "e_a", "table": "e", "ref_table": "a", "definition": "FOREIGN KEY (a_id) REFERENCES a(id)"}]
    assert [fk["name"] for fk in ce.keys_to_drop(fks, ["a"])] == ["a_b", "e_a"]
    assert ce.not_valid_definition("FOREIGN KEY (x) REFERENCES y(id) DEFERRABLE INITIALLY DEFERRED") == \
        "FOREIGN KEY (x) REFERENCES y(id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
    assert ce.not_valid_definition("FOREIGN KEY (x) REFERENCES y(id) NOT VALID") == \
        "FOREIGN KEY (x) REFERENCES y(id) NOT VALID"


def test_describe_error_keeps_code_message_detail_and_context():
    class Diag(object):
        message_primary = 'value too long for type character varying(5)'
        message_detail = None
        context = 'COPY t, line 1, column code: "xxxxxxxxx"'

    class Error(Exception):
        pgcode = "22001"
        diag = Diag()

    assert ct.describe_error(Error("ERROR: value too long")) == (
        'Database error 22001: value too long for type character varying(5) '
        '(CONTEXT: COPY t, line 1, column code: "xxxxxxxxx")')


def test_keys_that_cannot_be_re_added_are_named_with_their_definitions():
    class DeadConnection(object):
        def rollback(self):
            raise RuntimeError("connection already closed")

        def cursor(self):
            raise RuntimeError("connection already closed")

    outcome = {"errors": ["t: Database error 57014: canceling statement"]}
    keys = [{"name": "child_parent_fk", "table": "child", "ref_table": "parent",
             "definition": "FOREIGN KEY (parent_id) REFERENCES parent(id)"}]
    ce._restore_after_failure(DeadConnection(), "public", keys, [], outcome)
    assert outcome["foreign_keys_lost"] == ["child_parent_fk"]
    assert outcome["errors"][0] == (
        "the foreign keys dropped for the load could not be re-added: RuntimeError: connection already closed; "
        "their definitions: child.child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent(id)")
