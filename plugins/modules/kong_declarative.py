#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kong_declarative
short_description: Back up, convert (2.x to 3.0) and validate a Kong declarative configuration file
version_added: 0.1.0
description:
  - For DB-less nodes and data planes. Each of the three actions is switched on by its own option and they run
    in a fixed, safe order; B(backup), then B(convert) in memory, then B(validate) the result with the target
    version's C(kong config parse), and only then write the converted file (atomically). A file that fails
    validation is never written.
  - The conversion does what C(deck file convert --from kong-gateway-2.x --to kong-gateway-3.x) does;
    C(_format_version) V(1.1) or V(2.1) becomes V(3.0) and every regex-like route path (a character outside
    C([a-zA-Z0-9._~/%-])), top-level or nested under a service, gets a C(~) prefix. Each change is reported.
    A file already at V(3.0) is not changed (regex-like paths without C(~) in it are reported as warnings).
  - Idempotent; a converted file converts to itself and an identical backup is not taken twice.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.kong_cli
options:
  path:
    description:
      - The declarative configuration file (YAML or JSON, by extension or content).
    type: path
    required: true
  dest:
    description:
      - Write the converted file here instead of replacing O(path).
    type: path
  convert:
    description:
      - Convert the file to O(target_format).
    type: bool
    default: true
  target_format:
    description:
      - The C(_format_version) to convert to.
    type: str
    choices: ['3.0']
    default: '3.0'
  backup:
    description:
      - Copy O(path) into O(backup_dir) (file mode 0600, named C(<file name>.<UTC time>)) before anything else.
      - Skipped when O(backup_dir) already holds a backup of this file with the same content, or one whose
        conversion is exactly the current content (the original of a file this module converted), so a rerun
        takes no second backup.
    type: bool
    default: false
  backup_dir:
    description:
      - Directory of the backups (created with mode 0700). Defaults to the directory of O(path).
    type: path
  validate:
    description:
      - Validate the resulting file with C(kong config parse) of O(kong_bin) (the target version). Runs in check
        mode too (it changes nothing).
    type: bool
    default: false
  kong_bin:
    description:
      - The C(kong) command used for validation.
    type: path
    default: /usr/local/bin/kong
  conf:
    description:
      - C(kong.conf) for validation (C(-c)). C(kong config parse) connects to the database unless
        C(database=off); without O(conf), C(KONG_DATABASE=off) is set unless O(environment) sets it.
    type: path
    aliases: [conf_path]
  prefix:
    description:
      - Prefix for validation (C(-p)); a C(.kong_env) in it overrides O(conf).
    type: path
notes:
  - YAML is rewritten by a YAML dumper; comments and key quoting style of a converted YAML file are not kept
    (the backup keeps the original).
"""

EXAMPLES = r"""
- name: Back up, convert and validate the DB-less file with Kong 3.4
  kongops.upgrade.kong_declarative:
    path: /etc/kong/kong.yml
    backup: true
    backup_dir: /var/backups/kong
    validate: true
    kong_bin: /opt/kong-3.4.2/bin/kong
  register: kong_decl

- name: Only validate (no conversion)
  kongops.upgrade.kong_declarative:
    path: /etc/kong/kong.yml
    convert: false
    validate: true
    kong_bin: /usr/local/bin/kong
"""

RETURN = r"""
changes:
  description: Each change of the conversion.
  returned: always
  type: list
  elements: dict
  sample: [{"location": "_format_version", "from": "2.1", "to": "3.0"},
           {"location": "routes[0].paths[0]", "route": "users", "from": "/users/\\d+", "to": "~/users/\\d+"}]
warnings_found:
  description: Regex-like paths without C(~) in a file already at 3.0.
  returned: always
  type: list
  elements: str
from_version:
  description: C(_format_version) of the file read.
  returned: always
  type: str
to_version:
  description: C(_format_version) of the result.
  returned: always
  type: str
converted:
  description: Whether the conversion changed the content.
  returned: always
  type: bool
dest:
  description: The file written (or that would be written).
  returned: always
  type: str
backup_file:
  description: The backup taken (or the existing identical one).
  returned: when O(backup=true)
  type: str
validation:
  description: rc, stdout and stderr of C(kong config parse).
  returned: when O(validate=true)
  type: dict
entities:
  description: Entity counts of the resulting file.
  returned: always
  type: dict
"""

import datetime
import hashlib
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import KongCli, cli_argument_spec, cli_environment, kong_error_message
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_declarative import (
    DeclarativeError,
    convert_text,
    detect_format,
    format_version,
    loads,
    summarize,
)


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _converter(path, target_format):
    def converts_to(old_text):
        return convert_text(old_text, path, target_format)["text"]
    return converts_to


def _find_backup(backup_dir, base, raw, converts_to=None):
    """An existing backup of ``base`` in ``backup_dir`` that covers ``raw``.

    A backup covers the content when it is identical, or (``converts_to``) when converting it gives
    exactly this content: the backup then holds the file as it was before this module converted it.
    """
    if not os.path.isdir(backup_dir):
        return None
    digest = _sha256(raw)
    candidates = []
    for name in sorted(os.listdir(backup_dir)):
        if not name.startswith(base + "."):
            continue
        full = os.path.join(backup_dir, name)
        try:
            with open(full, "rb") as f:
                data = f.read()
        except (IOError, OSError):
            continue
        if _sha256(data) == digest:
            return full
        candidates.append((full, data))
    if converts_to is not None:
        for full, data in candidates:
            try:
                if converts_to(data.decode("utf-8")) == raw.decode("utf-8"):
                    return full
            except (DeclarativeError, UnicodeDecodeError):
                continue
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            dest=dict(type="path"),
            convert=dict(type="bool", default=True),
            target_format=dict(type="str", default="3.0", choices=["3.0"]),
            backup=dict(type="bool", default=False),
            backup_dir=dict(type="path"),
            validate=dict(type="bool", default=False),
            **cli_argument_spec()
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    dest = p["dest"] or path
    env = cli_environment(module)
    if not os.path.isfile(path):
        module.fail_json(msg="no declarative file at %s" % path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        module.fail_json(msg="%s is not UTF-8 text" % path)

    try:
        if p["convert"]:
            conv = convert_text(text, path, p["target_format"])
        else:
            doc = loads(text, detect_format(text, path))
            conv = {"changed": False, "text": text, "changes": [], "warnings": [], "from_version": format_version(doc),
                    "to_version": format_version(doc), "format": detect_format(text, path)}
        entities = summarize(loads(conv["text"], conv["format"]))
    except DeclarativeError as e:
        module.fail_json(msg="%s: %s" % (path, e))

    new_text = conv["text"]
    dest_current = None
    if os.path.exists(dest):
        with open(dest, "rb") as f:
            dest_current = f.read().decode("utf-8", "replace")
    write_needed = dest_current != new_text
    result = dict(changed=False, changes=conv["changes"], warnings_found=conv["warnings"], from_version=conv["from_version"],
                  to_version=conv["to_version"], converted=conv["changed"], dest=dest, entities=entities)
    for w in conv["warnings"]:
        module.warn(w)

    # 1. backup
    if p["backup"]:
        backup_dir = p["backup_dir"] or os.path.dirname(os.path.abspath(path))
        base = os.path.basename(path)
        converts_to = _converter(path, p["target_format"]) if p["convert"] and dest == path else None
        existing = _find_backup(backup_dir, base, raw, converts_to)
        if existing:
            result["backup_file"] = existing
        else:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            target = os.path.join(backup_dir, "%s.%s" % (base, stamp))
            result["backup_file"] = target
            result["changed"] = True
            if not module.check_mode:
                if not os.path.isdir(backup_dir):
                    os.makedirs(backup_dir, 0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(raw)

    # 2. validate the result before writing it
    if p["validate"]:
        if "KONG_DATABASE" not in env and not p["conf"]:
            env["KONG_DATABASE"] = "off"
        cli = KongCli(module.run_command, p["kong_bin"], conf=p["conf"], prefix=p["prefix"], environment=env)
        tmpdir = tempfile.mkdtemp(prefix="kong_declarative.")
        try:
            ext = os.path.splitext(path)[1] or (".json" if conv["format"] == "json" else ".yml")
            check_file = os.path.join(tmpdir, "candidate" + ext)
            with open(check_file, "w") as f:
                f.write(new_text)
            try:
                cli.version()
            except Exception as e:  # a missing or broken kong binary
                module.fail_json(msg="cannot run %s: %s" % (p["kong_bin"], e), **result)
            rc, out, err = cli.run(["config", "parse", check_file])
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        result["validation"] = {"rc": rc, "stdout": out, "stderr": err, "kong_version": cli.version()["version"],
                                "cmd": cli.commands[-1]}
        if rc != 0:
            what = "the converted content of %s" % path if conv["changed"] else path
            reason = kong_error_message(err) or (out + err).strip()
            module.fail_json(msg="kong %s rejects %s (nothing written): %s" % (cli.version()["version"], what, reason), **result)

    # 3. write
    if write_needed:
        result["changed"] = True
        if not module.check_mode:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), prefix=".kong_declarative.")
            with os.fdopen(fd, "w") as f:
                f.write(new_text)
            if os.path.exists(dest):
                shutil.copymode(dest, tmp)
            elif os.path.exists(path):
                shutil.copymode(path, tmp)
            module.atomic_move(tmp, dest)
        if module._diff:
            result["diff"] = {"before": dest_current or "", "after": new_text, "before_header": dest, "after_header": dest}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
