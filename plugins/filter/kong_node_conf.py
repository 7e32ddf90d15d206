# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the kong_node role to read kong.conf and report settings a release removed or changed.

Their documentation is in the adjacent kong_conf_settings.yml, kong_conf_findings.yml and kong_conf_file_refs.yml
(ansible-doc reads a file that defines several filters only once, so each filter has its own sidecar).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

_LINE = re.compile(r"^\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$")
_SECRET = re.compile(r"password|secret|token|_key$|license")


def version_tuple(version):
    """'3.4.3.12' -> (3, 4, 3, 12); a missing part counts as 0, so 3.4.0 == 3.4.0.0."""
    parts = re.findall(r"\d+", str(version).split("-", 1)[0])
    if not parts:
        raise AnsibleFilterError("not a Kong version: %r" % (version,))
    nums = [int(p) for p in parts[:4]]
    return tuple(nums + [0] * (4 - len(nums)))


def kong_conf_settings(text):
    settings = {}
    for line in str(text).splitlines():
        # Kong's conf loader strips "#" comments; a literal "#" must be escaped as "\#".
        line = re.sub(r"(?<!\\)#.*$", "", line)
        match = _LINE.match(line)
        if match:
            settings[match.group(1)] = match.group(2).replace("\\#", "#")
    return settings


def kong_conf_findings(settings, changes, version_to="", version_from=""):
    """Entries of ``changes`` whose key is set in ``settings`` and whose version is in (version_from, version_to]."""
    found = []
    for change in changes or []:
        key = change.get("key")
        if key not in settings:
            continue
        since = version_tuple(change["version"])
        if version_to and since > version_tuple(version_to):
            continue
        if version_from and since <= version_tuple(version_from):
            continue
        value = settings[key]
        if change.get("change") == "invalid_value" and not re.search(change.get("value_regex", ""), value):
            continue
        entry = dict(change)
        entry["value"] = "******" if _SECRET.search(key) else value
        found.append(entry)
    return found


_FILE_KEYS = re.compile(r"(cert|certificate|_key|keyring|license_path|declarative_config)$")


def kong_conf_file_refs(settings):
    """Absolute file paths named by certificate, key, keyring, license and declarative settings (sorted, unique).

    Values that are not absolute paths (base64 content, "system", "off") are skipped; list settings are
    comma-separated.
    """
    paths = set()
    for key, value in settings.items():
        if not _FILE_KEYS.search(key):
            continue
        for item in str(value).split(","):
            item = item.strip()
            if item.startswith("/"):
                paths.add(item)
    return sorted(paths)


class FilterModule(object):
    def filters(self):
        return {
            "kong_conf_settings": kong_conf_settings,
            "kong_conf_findings": kong_conf_findings,
            "kong_conf_file_refs": kong_conf_file_refs,
        }
