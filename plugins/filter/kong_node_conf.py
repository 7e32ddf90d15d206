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

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_conf

_SECRET = re.compile(r"password|secret|token|_key$|license")


def version_tuple(version):
    """'3.4.3.12' -> (3, 4, 3, 12); a missing part counts as 0, so 3.4.0 == 3.4.0.0."""
    parts = re.findall(r"\d+", str(version).split("-", 1)[0])
    if not parts:
        raise AnsibleFilterError("not a Kong version: %r" % (version,))
    nums = [int(p) for p in parts[:4]]
    return tuple(nums + [0] * (4 - len(nums)))


def kong_conf_settings(text):
    return kong_conf.parse_settings(text)


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


def kong_conf_file_refs(settings):
    """Absolute file paths named by certificate, key, keyring, license and declarative settings (kong_conf.file_refs)."""
    return kong_conf.file_refs(settings)


class FilterModule(object):
    def filters(self):
        return {
            "kong_conf_settings": kong_conf_settings,
            "kong_conf_findings": kong_conf_findings,
            "kong_conf_file_refs": kong_conf_file_refs,
        }
