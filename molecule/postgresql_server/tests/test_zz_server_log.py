"""No password reaches the PostgreSQL server log, even with `log_statement = all`.

group_vars/postgresql.yml sets log_statement = all through postgresql_server_settings, so every
statement of the scenario is logged: the roles' creation in converge and the SQL of verify's own
playbook runs (test_overrides_and_upgrade, test_tls_provided). This module's name sorts last so
that it reads the log after all of them. The roles' passwords are sent as SCRAM-SHA-256
verifiers computed on the controller; the log must show those statements, with verifiers, and
no marker of any sentinel password.
"""

from __future__ import annotations

import re

import pytest

from conftest import PASSWORD_KEYS, scenario_vars, sentinel_markers


def test_statements_are_logged_and_carry_verifiers_not_passwords(target, names, psql_postgres):
    assert psql_postgres("SHOW log_statement").stdout.strip() == "all"
    res = target.exec(["cat", target.server_log])
    assert res.rc == 0, res.stderr
    log = res.stdout
    # Evidence that this is the log of the statements that set the passwords.
    for role in (names["owner"], names["app"], names["ro"]):
        created = rf"statement: CREATE USER \"?{role}\"? WITH ENCRYPTED PASSWORD 'SCRAM-SHA-256\$4096:[^' ]+' "
        assert re.search(created, log), f"no logged CREATE USER with a verifier for {role}"
    # test_overrides_and_upgrade replaced the app role's md5 hash: an ALTER with a verifier.
    altered = rf"statement: ALTER USER \"?{names['app']}\"? WITH ENCRYPTED PASSWORD 'SCRAM-SHA-256\$4096:"
    assert re.search(altered, log), "no logged ALTER USER with a verifier for the app role"

    v = scenario_vars()
    leaks = [key for key, marker in zip(PASSWORD_KEYS, sentinel_markers()) if marker in log or v[key] in log]
    # Never print the log (it would hold the secret): only which password leaked.
    if leaks:
        pytest.fail(f"the server log holds the passwords of {leaks}", pytrace=False)
