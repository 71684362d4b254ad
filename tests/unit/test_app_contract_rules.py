"""The app's contract (issue 16 A) in pure functions: the systemd EnvironmentFile= check (its input is
`systemctl show` output; systemd is not PID 1 on the test host, so the refusal itself runs only where
systemd does), the post-load command list check, and the app's process environment order."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgmigrate.django.plugins.filter.app_contract import manage_commands_problems
from ansible_collections.pgmigrate.django.plugins.filter.app_contract import units_missing_env_file
from ansible_collections.pgmigrate.django.plugins.module_utils import dotenv
from ansible_collections.pgmigrate.django.plugins.modules.app_command import label, tail


def test_systemctl_show_output_is_parsed_into_paths():
    shown = "/srv/app/.env (ignore_errors=no)\n/etc/default/app (ignore_errors=yes)\n"
    assert dotenv.systemd_environment_files(shown) == ["/srv/app/.env", "/etc/default/app"]
    assert dotenv.systemd_environment_files("") == []
    assert dotenv.systemd_environment_files("/srv/my app/.env (ignore_errors=no)") == ["/srv/my app/.env"]


def test_units_that_do_not_read_the_env_file_are_named():
    shown = {"app.service": "/srv/app/.env (ignore_errors=no)\n",
             "worker.service": "",
             "beat.service": "/srv/other/.env (ignore_errors=yes)\n",
             "web.service": "/srv/app/./.env (ignore_errors=yes)\n"}
    assert units_missing_env_file(shown, "/srv/app/.env") == [
        "worker.service (EnvironmentFile=none)", "beat.service (EnvironmentFile=/srv/other/.env)"]
    assert units_missing_env_file({"app.service": "/srv/app/.env (ignore_errors=no)"}, "/srv/app//.env") == []


def test_units_missing_env_file_needs_a_dict_and_a_path():
    with pytest.raises(AnsibleFilterError):
        units_missing_env_file(["app.service"], "/srv/app/.env")
    with pytest.raises(AnsibleFilterError):
        units_missing_env_file({"app.service": ""}, "")


@pytest.mark.parametrize("commands", [[], [["update_index"]], [["clear_cache", "--all"], ["update_index"]]])
def test_good_post_load_commands(commands):
    assert manage_commands_problems(commands) == []


@pytest.mark.parametrize("commands, needle", [
    ("update_index", "not a list of argv lists"),
    ([[]], "item 0 is []"),
    (["update_index"], "item 0 is 'update_index'"),
    ([["update_index", ""]], "item 0 (['update_index', '']) holds a word"),
    ([["update_index", 3]], "holds a word that is not a non-empty string"),
    ([["manage.py", "update_index"]], "starts with manage.py"),
])
def test_bad_post_load_commands_are_named(commands, needle):
    problems = manage_commands_problems(commands)
    assert len(problems) == 1 and needle in problems[0], problems


def test_process_environment_in_systemd_order():
    env = dotenv.process_environment({"PATH": "/bin", "A": "base", "DJANGO_ENV_FILE": "/old"},
                                     {"A": "unit", "B": "unit", "N": 5}, {"B": "file"}, "/srv/app/.env")
    assert env == {"PATH": "/bin", "A": "unit", "B": "file", "N": "5", "DJANGO_ENV_FILE": "/srv/app/.env"}
    assert dotenv.process_environment({}, {}, {}, None) == {}


def test_env_text_parsing_names_the_line_never_its_text():
    assert dotenv.parse_env_text("export A='x y'\n# c\nB=\"p\\\"w\"\n") == {"A": "x y", "B": 'p"w'}
    with pytest.raises(ValueError) as err:
        dotenv.parse_env_text("A=1\nsecret-password-line\n")
    assert str(err.value) == "line 2 is not KEY=VALUE"


def test_app_command_labels_and_tails():
    assert label(["/srv/app/.venv/bin/python", "manage.py", "update_index"]) == "manage.py update_index"
    assert label(["/usr/bin/gunicorn", "--daemon", "app.wsgi"]) == "gunicorn --daemon app.wsgi"
    assert tail("1\n2\n3\n", 2) == "2\n3" and tail("1\n2\n", 0) == ""


def test_a_sqlite_database_is_compared_by_its_real_path(tmp_path):
    from ansible_collections.pgmigrate.django.plugins.module_utils import django_introspect as di

    (tmp_path / "data").mkdir()
    (tmp_path / "db.sqlite3").symlink_to(tmp_path / "data" / "db.sqlite3")
    settings = {"database": {"vendor": "sqlite", "name": "db.sqlite3"}}
    assert di.contract_problems(settings, "sqlite", str(tmp_path / "data" / "db.sqlite3"), str(tmp_path)) == []
    assert di.contract_problems(settings, "sqlite", "/elsewhere/db.sqlite3", str(tmp_path)) == [
        "its database NAME is db.sqlite3, not /elsewhere/db.sqlite3"]
    # A PostgreSQL database name is compared as it is.
    assert di.contract_problems({"database": {"vendor": "postgresql", "name": "shop"}}, "postgresql", "Shop") == [
        "its database NAME is shop, not Shop"]


def test_the_dead_man_switch_reads_the_env_as_the_collection_writes_it(tmp_path):
    import importlib.util
    from pathlib import Path

    from ansible_collections.pgmigrate.django.plugins.module_utils.dotenv import edit_lines

    path = Path(__file__).resolve().parents[2] / "roles" / "migrate" / "files" / "deadman.py"
    spec = importlib.util.spec_from_file_location("deadman_under_test", path)
    deadman = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deadman)
    values = {"SQLITE_PATH": "/srv/app/db.sqlite3", "DJANGO_SECRET_KEY": "a'b\"c\\d $x #y", "EMPTY": ""}
    lines, _added, _changed, _removed = edit_lines(["# settings\n", "export KEPT='lit eral'\n"], values, [])
    env_file = tmp_path / ".env"
    env_file.write_text("".join(lines))
    assert deadman.read_env_file(str(env_file)) == dict(values, KEPT="lit eral")
    assert deadman.read_env_file(str(tmp_path / "absent.env")) == {}
