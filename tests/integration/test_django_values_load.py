"""The demo app under USE_TZ = False: loaded and checked as the app reads its values.

For each time zone (America/New_York, Asia/Kolkata, Australia/Lord_Howe, whose clocks move by half
an hour) and each engine: the demo app on SQLite with generated data plus values on both sides of
the zone's clock changes (a repeated hour included), its schema built by its own migrations on
PostgreSQL, `django_settings` asked with the owner's settings (contract held), the load and the
check given its result. Then every DateTimeField, DateField, TimeField and DecimalField value read
through Django is the same on SQLite and on PostgreSQL; a value shifted by an hour on PostgreSQL is
caught by consistency_check; an over-precise decimal is refused by the load's preflight, and with
decimal_overflow=round it loads, is counted, and compares as Django rounds it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from test_django_settings import App  # pylint: disable=import-error

pytestmark = pytest.mark.integration

READER = Path(__file__).resolve().parent / "demo_read_values.py"
ZONES = {
    # zone: (a repeated-hour wall clock, wall clocks next to the zone's clock changes)
    "America/New_York": ("2021-11-07 01:30:00", ["2021-03-14 01:59:59.999999", "2021-03-14 03:00:00",
                                                 "2021-11-07 00:59:59", "2021-11-07 02:00:00"]),
    "Asia/Kolkata": ("1942-05-14 23:30:00", ["1941-10-01 01:00:00", "1941-09-30 23:59:59", "2024-03-31 02:30:00",
                                             "1906-01-01 00:08:50"]),
    "Australia/Lord_Howe": ("2021-04-04 01:45:00", ["2021-10-03 01:59:00", "2021-10-03 02:30:00",
                                                    "2021-04-04 01:29:59", "2021-04-04 02:00:00"]),
}
ROWS = 600


class TzApp(App):
    """The demo app in ZONE with USE_TZ = False, data generated, edge values written in."""

    def __init__(self, root, zone):
        super().__init__(root, ["DJANGO_USE_TZ=False", "DJANGO_TIME_ZONE=%s" % zone])
        self.manage("generate_data", "--rows", str(ROWS))
        repeated, edges = ZONES[zone]
        conn = sqlite3.connect(self.sqlite)
        with conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM inventory_event ORDER BY id LIMIT 6")]
            for key, text in zip(ids, [repeated, repeated.replace(":30:", ":59:")] + edges):
                conn.execute("UPDATE inventory_event SET happened_at = ? WHERE id = ?", (text, key))
        conn.close()
        self.edited_ids = ids
        self.before = None

    def manage(self, *args, env_file=None):
        env = self.environ(env_file)
        subprocess.run([sys.executable, "manage.py", *args], cwd=self.dir, env=env, check=True, capture_output=True)

    def read_values(self, env_file=None):
        env = self.environ(env_file, PYTHONPATH=str(self.dir))
        proc = subprocess.run([sys.executable, str(READER)], cwd=self.dir, env=env, check=True, capture_output=True,
                              text=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])


def load_and_check(ansible, app, target, engine, **extra):
    owner_env = app.write_env(["DJANGO_USE_TZ=False", "DJANGO_TIME_ZONE=%s" % app.zone,
                               "DATABASE_URL=%s" % target.database_url], path=app.dir / ".env.owner")
    app.manage("migrate", "--noinput", env_file=owner_env)
    django = ansible.module("django_settings", app.args(env_file=str(owner_env), expect_vendor="postgresql",
                                                        expect_database=target.dbname))
    assert django.rc == 0, django.output[-3000:]
    info = {key: django.result[key] for key in ("settings", "tables")}
    load = ansible.module("pgloader", dict(target.params, source=str(app.sqlite), engine=engine, truncate=True,
                                           django=info, **extra))
    return owner_env, info, load


@pytest.mark.parametrize("engine", ["copy", "pgloader"])
@pytest.mark.parametrize("zone", sorted(ZONES))
def test_every_value_reads_the_same_through_django(tmp_path, ansible, pg_target, zone, engine):
    app = TzApp(tmp_path, zone)
    app.zone = zone
    owner_env, info, load = load_and_check(ansible, app, pg_target, engine)
    assert load.rc == 0, load.output[-3000:]
    assert load.result["django"]["session_time_zone"] == zone
    sequences = ansible.module("reset_sequences", dict(pg_target.params, source=str(app.sqlite), django=info))
    assert sequences.rc == 0, sequences.output[-3000:]
    check = ansible.module("consistency_check", dict(pg_target.params, source=str(app.sqlite), django=info))
    assert check.rc == 0 and check.result["consistent"], check.output[-3000:]
    on_sqlite, on_postgresql = app.read_values(), app.read_values(owner_env)
    assert (on_sqlite["vendor"], on_postgresql["vendor"]) == ("sqlite", "postgresql")
    assert set(on_sqlite["values"]) >= {"inventory.Event.happened_at", "inventory.Item.created_at",
                                        "inventory.Item.release_date", "inventory.Item.price"}
    assert on_postgresql["values"] == on_sqlite["values"]
    assert on_sqlite["values"]["inventory.Event.happened_at"][str(app.edited_ids[0])] == ZONES[zone][0].replace(" ", "T")

    # One value shifted by an hour on PostgreSQL: Django would read another time; the check says so.
    pg_target.query("UPDATE inventory_event SET happened_at = happened_at + interval '1 hour' WHERE id = %s",
                    (app.edited_ids[2],))
    check = ansible.module("consistency_check", dict(pg_target.params, source=str(app.sqlite), django=info))
    assert check.failed and not check.result["consistent"]
    assert "inventory_event" in json.dumps(check.result["problems"])


def test_over_precise_decimal_refused_then_rounded_and_counted(tmp_path, ansible, pg_target):
    app = TzApp(tmp_path, "America/New_York")
    app.zone = "America/New_York"
    conn = sqlite3.connect(app.sqlite)
    with conn:
        conn.execute("UPDATE inventory_item SET price = 9077091.122 WHERE id = 1")
        conn.execute("UPDATE inventory_item SET price = '0.125' WHERE id = 2")
    conn.close()
    owner_env, info, load = load_and_check(ansible, app, pg_target, "copy")
    # The preflight (the app still serving) reports it with table, column, count and samples.
    preflight = ansible.module("preflight", dict(pg_target.params, source=str(app.sqlite), django=info))
    assert preflight.failed
    (rounds,) = [d for d in preflight.result["decimals"] if d["kind"] == "rounds"]
    assert (rounds["table"], rounds["column"], rounds["count"]) == ("inventory_item", "price", 2)
    assert {s["value"] for s in rounds["samples"]} == {"9077091.122", "0.125"}
    assert [p["check"] for p in preflight.result["problems"]] == ["decimal_rounds"]
    preflight = ansible.module("preflight", dict(pg_target.params, source=str(app.sqlite), django=info,
                                                 decimal_overflow="round"))
    assert preflight.rc == 0 and preflight.result["decimals"][0]["count"] == 2, preflight.output[-2000:]
    assert load.failed
    assert "inventory_item.price" in load.result["msg"] and "decimal_overflow=round" in load.result["msg"]
    assert pg_target.scalar("SELECT count(*) FROM inventory_item") == 0
    load = ansible.module("pgloader", dict(pg_target.params, source=str(app.sqlite), engine="copy", truncate=True,
                                           django=info, decimal_overflow="round"))
    assert load.rc == 0, load.output[-3000:]
    assert load.result["decimal_rounded"] == {"inventory_item": 2}
    assert pg_target.query("SELECT price::text FROM inventory_item WHERE id IN (1, 2) ORDER BY id") == [
        ("9077091.12",), ("0.12",)]
    assert ansible.module("reset_sequences", dict(pg_target.params, source=str(app.sqlite))).rc == 0
    check = ansible.module("consistency_check", dict(pg_target.params, source=str(app.sqlite), django=info,
                                                     decimal_overflow="round"))
    assert check.rc == 0 and check.result["consistent"], (check.result.get("msg"), check.result.get("problems"))
    assert app.read_values(owner_env)["values"]["inventory.Item.price"] == app.read_values()["values"]["inventory.Item.price"]


@pytest.mark.parametrize("engine", ["copy", "pgloader"])
def test_skipped_local_hour_refused_then_shifted_forward(tmp_path, ansible, pg_target, engine):
    app = TzApp(tmp_path, "Australia/Lord_Howe")
    app.zone = "Australia/Lord_Howe"
    conn = sqlite3.connect(app.sqlite)
    with conn:
        conn.execute("UPDATE inventory_event SET happened_at = '2021-10-03 02:15:00' WHERE id = ?", (app.edited_ids[3],))
    conn.close()
    owner_env, info, load = load_and_check(ansible, app, pg_target, engine)
    assert load.failed and "skipped local hour" in load.result["msg"] and "inventory_event.happened_at" in load.result["msg"]
    assert pg_target.scalar("SELECT count(*) FROM inventory_event") == 0
    load = ansible.module("pgloader", dict(pg_target.params, source=str(app.sqlite), engine=engine, truncate=True,
                                           django=info, local_time_gap="shift_forward"))
    assert load.rc == 0, load.output[-3000:]
    assert ansible.module("reset_sequences", dict(pg_target.params, source=str(app.sqlite))).rc == 0
    check = ansible.module("consistency_check", dict(pg_target.params, source=str(app.sqlite), django=info,
                                                     local_time_gap="shift_forward"))
    assert check.rc == 0 and check.result["consistent"], (check.result.get("msg"), check.result.get("problems"))
    # Django on PostgreSQL reads the value half an hour later (Lord Howe moves its clocks by 30 minutes).
    on_postgresql = app.read_values(owner_env)["values"]["inventory.Event.happened_at"]
    assert on_postgresql[str(app.edited_ids[3])] == "2021-10-03T02:45:00"
    # Under refuse the same comparison names the moved value.
    check = ansible.module("consistency_check", dict(pg_target.params, source=str(app.sqlite), django=info))
    assert check.failed and "inventory_event" in json.dumps(check.result["problems"])
