# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading kong.conf: its active settings and the files they name.

Shared by the kong_node_conf filters (controller side) and the kong_node_backup module (managed node side).
Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$")
_FILE_KEYS = re.compile(r"(cert|certificate|_key|keyring|license_path|declarative_config)$")


def parse_settings(text):
    """Active ``key = value`` settings of a kong.conf text (the last one of a key wins)."""
    settings = {}
    for line in str(text).splitlines():
        # Kong's conf loader strips "#" comments; a literal "#" must be escaped as "\#".
        line = re.sub(r"(?<!\\)#.*$", "", line)
        match = _LINE.match(line)
        if match:
            settings[match.group(1)] = match.group(2).replace("\\#", "#")
    return settings


def file_refs(settings):
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
