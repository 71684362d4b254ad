#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgmigrate.django contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlite_backup
short_description: Online-consistent backup of a SQLite database, checked and fingerprinted
version_added: 0.1.0
author:
  - pgmigrate.django contributors (@pgmigrate)
description:
  - Copies a SQLite database with SQLite's online backup API, so pages still in the write-ahead
    log (WAL) are included and a writer cannot leave a half-written copy.
  - Runs C(PRAGMA integrity_check) on the copy before it replaces O(dest), writes it atomically
    with mode O(mode), and records the sha256 of the source file and of the copy in a manifest
    next to it (O(dest) + C(.json)).
  - Idempotent; when O(dest) and its manifest exist and the source file, its write-ahead log
    (C(-wal)) and the copy all still have the recorded sha256, nothing is done. Rows that are only
    in the C(-wal) file change its fingerprint, so a copy is never reused when they are new.
  - The source is opened read-only; it is never created or changed.
options:
  path:
    description:
      - The SQLite database to back up.
    type: path
    required: true
  dest:
    description:
      - Where the copy goes. Its directory must exist.
    type: path
    required: true
  force:
    description:
      - Make a new copy even when the recorded one still matches.
    type: bool
    default: false
  pages:
    description:
      - Pages copied per step of the backup API; V(-1) copies the whole database in one step, in one read
        transaction.
      - Use V(-1) while another process writes (the online strategy's snapshot). SQLite restarts a copy in steps
        whenever another connection writes between two steps, so a busy app could keep it from ever finishing.
        In WAL mode the app's writers go on meanwhile; in rollback-journal mode they wait for the copy.
    type: int
    default: 4096
extends_documentation_fragment: [pgmigrate.django.attributes, ansible.builtin.files]
attributes:
  check_mode:
    support: full
    details: Reports whether a copy would be made; writes nothing.
  diff_mode:
    support: none
notes:
  - O(mode) defaults to C(0600), because a database copy holds the application's data.
seealso:
  - module: pgmigrate.django.preflight
"""

EXAMPLES = r"""
- name: Back up the app's SQLite database before the cut-over
  pgmigrate.django.sqlite_backup:
    path: /srv/app/db.sqlite3
    dest: /var/backups/app/db.sqlite3.pre-migration
    owner: root
  register: sqlite_copy

- name: Later, prove the original was not touched
  ansible.builtin.stat:
    path: /srv/app/db.sqlite3
    checksum_algorithm: sha256
  register: original
  failed_when: original.stat.checksum != sqlite_copy.source_sha256
"""

RETURN = r"""
path:
  description: The source database.
  returned: always
  type: str
  sample: /srv/app/db.sqlite3
dest:
  description: The copy.
  returned: always
  type: str
  sample: /var/backups/app/db.sqlite3.pre-migration
manifest:
  description: The JSON manifest written next to the copy (source, sha256 of both, size, time).
  returned: always
  type: str
  sample: /var/backups/app/db.sqlite3.pre-migration.json
source_sha256:
  description: sha256 of the source file when it was copied (of the main file; WAL content is in the copy).
  returned: always
  type: str
  sample: 9f2c0e3d5c0c2b1f6f7e2a8a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e
source_wal_sha256:
  description: sha256 of the source's write-ahead log (C(-wal)) when it was copied; null when it was absent or empty.
  returned: always
  type: str
  sample: 5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e9f2c0e3d5c0c2b1f6f7e2a8a1b4c
dest_sha256:
  description: sha256 of the copy. Null in check mode when a copy would be made.
  returned: always
  type: str
  sample: 2b1f6f7e2a8a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e9f2c0e3d5c0c
size:
  description: Size of the copy in bytes. Null in check mode when a copy would be made.
  returned: always
  type: int
  sample: 163840
integrity:
  description: Result of C(PRAGMA integrity_check) on the copy (C(ok)), or C(not checked) in check mode.
  returned: always
  type: str
  sample: ok
seconds:
  description: Time taken.
  returned: always
  type: float
  sample: 0.42
"""

import hashlib
import json
import os
import sqlite3
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgmigrate.django.plugins.module_utils.sqlite_source import SourceError, open_readonly

CHUNK = 1024 * 1024


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(manifest):
    try:
        with open(manifest) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def wal_sha256_of(path):
    """sha256 of PATH-wal, or None when there is no write-ahead log content."""
    wal = path + "-wal"
    if not os.path.isfile(wal) or os.path.getsize(wal) == 0:
        return None
    return sha256_of(wal)


def copy_is_current(path, dest, manifest, fingerprint):
    """True when DEST is the recorded copy of the source as it is now, WAL content included."""
    recorded = read_manifest(manifest)
    if not recorded or not os.path.isfile(dest) or "source_wal_sha256" not in recorded:
        return False
    return (recorded.get("source") == path and recorded.get("source_sha256") == fingerprint[0]
            and recorded.get("source_wal_sha256") == fingerprint[1]
            and recorded.get("dest_sha256") == sha256_of(dest))


def online_copy(path, target, pages=4096):
    """Copy with the backup API (WAL included), then check the copy's integrity."""
    source = open_readonly(path)
    copy = sqlite3.connect(target)
    try:
        # In steps (a writer is not locked out for the whole copy), or in one (-1) while others write.
        source.backup(copy, pages=pages)
        copy.commit()
        result = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        # A self-contained file: the copy must not depend on a -wal file next to it.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
    return result


def make_copy(module, path, dest):
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=".sqlite-backup-", dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o600)
    try:
        integrity = online_copy(path, tmp, module.params["pages"])
        if integrity != ["ok"]:
            module.fail_json(msg="The copy of %s fails PRAGMA integrity_check: %s. The source is damaged or "
                                 "changed during the copy; nothing was replaced." % (path, "; ".join(integrity[:5])))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        module.atomic_move(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return "ok"


def write_manifest(manifest, data):
    fd, tmp = tempfile.mkstemp(prefix=".sqlite-backup-", dir=os.path.dirname(manifest) or ".")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, manifest)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            force=dict(type="bool", default=False),
            pages=dict(type="int", default=4096),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    started = time.monotonic()
    path = os.path.abspath(module.params["path"])
    dest = os.path.abspath(module.params["dest"])
    manifest = dest + ".json"
    if module.params["mode"] is None:
        module.params["mode"] = "0600"
    if path == dest:
        module.fail_json(msg="dest must differ from path: a backup cannot overwrite its own source")
    if not os.path.isdir(os.path.dirname(dest)):
        module.fail_json(msg="The directory of dest (%s) does not exist: create it first" % os.path.dirname(dest))
    try:
        open_readonly(path).close()
    except SourceError as error:
        module.fail_json(msg=str(error))

    fingerprint = (sha256_of(path), wal_sha256_of(path))
    result = dict(changed=False, path=path, dest=dest, manifest=manifest, source_sha256=fingerprint[0],
                  source_wal_sha256=fingerprint[1], dest_sha256=None, size=None, integrity="not checked")
    if not module.params["force"] and copy_is_current(path, dest, manifest, fingerprint):
        result.update(dest_sha256=read_manifest(manifest)["dest_sha256"], size=os.path.getsize(dest),
                      integrity=read_manifest(manifest).get("integrity", "ok"))
    elif module.check_mode:
        result["changed"] = True
    else:
        result["integrity"] = make_copy(module, path, dest)
        result.update(changed=True, dest_sha256=sha256_of(dest), size=os.path.getsize(dest))
        write_manifest(manifest, {
            "source": path, "source_sha256": fingerprint[0], "source_wal_sha256": fingerprint[1], "dest": dest, "dest_sha256": result["dest_sha256"],
            "size": result["size"], "integrity": result["integrity"], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
        manifest_args = module.load_file_common_arguments(module.params, path=manifest)
        result["changed"] = module.set_fs_attributes_if_different(manifest_args, result["changed"])
    result["seconds"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
