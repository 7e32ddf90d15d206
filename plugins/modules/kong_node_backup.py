#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_node_backup
short_description: Back up or restore a Kong node's files (kong.conf, certificates, keyring, declarative file) in one call
version_added: 0.1.0
description:
  - V(backup) copies kong.conf, the files it names (certificates, keys, keyring, license, declarative file) and the
    other O(paths) (files or directories, walked recursively with hidden files; symbolic links inside directories are
    skipped) to C(<dest>/<original absolute path>). Absent candidates are listed in RV(missing), not an error.
  - Directories from O(root) down are mode 0700, copies 0600 (they hold pg_password and private keys). Each copy is
    written through a temporary file and renamed, then checked against the source's sha256.
  - C(manifest.json) in O(dest) lists every copy (C(src), C(dest), C(sha256), C(size), and the original's C(mode),
    C(uid), C(gid)) and the absent candidates. A rerun with the same O(dest) rewrites nothing that is already identical,
    so it reports no change.
  - V(restore) copies each of O(files) (or every file of the manifest in O(dest)) back to its original path with the
    original's mode, owner and group when known. It first checks every backup copy (present, sha256 as in the manifest)
    and changes nothing when one is missing or corrupt. Files already identical are left alone.
  - One module call replaces the stat, find, file and copy loops of a per-file backup (docs/performance.md).
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  state:
    description: V(backup) or V(restore).
    type: str
    default: backup
    choices: [backup, restore]
  dest:
    description: The node's backup directory, e.g. C(<root>/<run id>/<inventory_hostname>). For V(restore), the backup whose
      C(manifest.json) gives the files (and their checksums) when O(files) is empty, or whose checksums are used for O(files).
    type: path
    required: true
  root:
    description:
      - The backup root; O(dest) must be under it. It and every directory from it down to the copies are made 0700.
      - Required for V(backup).
    type: path
  conf:
    description: The node's kong.conf; backed up, and read for the files it names. An absent file is listed as missing.
    type: path
    default: /etc/kong/kong.conf
    aliases: [conf_path]
  paths:
    description: Other files or directories to back up (the prefix's certificates and templates, the keyring directory, the
      declarative file, extra paths).
    type: list
    elements: path
    default: []
  host:
    description: Name of the node, written into the manifest.
    type: str
    default: ''
  prefix:
    description: The node's Kong prefix, written into the manifest.
    type: str
    default: ''
  files:
    description:
      - V(restore) only. The files to put back, each C(backup) (the copy) and C(path) (where it goes), optionally
        C(sha256) and C(mode). Empty restores every file of the manifest in O(dest).
    type: list
    elements: dict
    default: []
seealso:
  - module: kongops.upgrade.kong_pg_backup
"""

EXAMPLES = r"""
- name: Back up the node's files
  kongops.upgrade.kong_node_backup:
    root: /var/backups/kong
    dest: "/var/backups/kong/20261127T130000Z/{{ inventory_hostname }}"
    conf: /etc/kong/kong.conf
    paths:
      - /usr/local/kong/ssl
      - /usr/local/kong/nginx.conf
      - /etc/kong/kong.yml
    host: "{{ inventory_hostname }}"
  register: node_backup

- name: Put every backed-up file back
  kongops.upgrade.kong_node_backup:
    state: restore
    dest: "{{ node_backup.path }}"
"""

RETURN = r"""
path:
  description: The backup directory (O(dest)).
  returned: always
  type: str
manifest:
  description: Path of C(manifest.json).
  returned: state is backup
  type: str
files:
  description: V(backup), every copy (C(src), C(dest), C(sha256), C(size), C(mode), C(uid), C(gid)); V(restore), every file
    considered (C(backup), C(path), C(sha256), C(mode)).
  returned: always
  type: list
  elements: dict
missing:
  description: Candidates that did not exist (not backed up).
  returned: state is backup
  type: list
  elements: str
copied:
  description: Sources copied in this run (or that would be, in check mode); empty on an identical rerun.
  returned: state is backup
  type: list
  elements: str
restored:
  description: Original paths written back (or that would be, in check mode).
  returned: state is restore
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils.node_backup import (  # noqa: E402
    NodeBackupError,
    read_manifest,
    restore_items,
    run_backup,
    run_restore,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="backup", choices=["backup", "restore"]),
            dest=dict(type="path", required=True),
            root=dict(type="path"),
            conf=dict(type="path", default="/etc/kong/kong.conf", aliases=["conf_path"]),
            paths=dict(type="list", elements="path", default=[]),
            host=dict(type="str", default=""),
            prefix=dict(type="str", default=""),
            files=dict(type="list", elements="dict", default=[]),
        ),
        required_if=[("state", "backup", ["root"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["state"] == "backup":
            result = run_backup(p["root"], p["dest"], p["conf"], p["paths"], host=p["host"], prefix=p["prefix"],
                                check_mode=module.check_mode)
        else:
            try:
                manifest = read_manifest(p["dest"])
            except NodeBackupError:
                if not p["files"]:
                    raise
                manifest = None  # explicit files without a manifest (a declarative backup of its own): no checksums
            result = run_restore(restore_items(p["files"], manifest), check_mode=module.check_mode)
            result["path"] = p["dest"]
    except NodeBackupError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="file %s of the node backup %s failed: %s" % (p["state"], p["dest"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
