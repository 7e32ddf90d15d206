# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sha256 of a file, read in chunks: shared by the database backup (pg_backup) and the node file backup (node_backup).

Plain Python (no Ansible imports).
"""

from __future__ import annotations

import hashlib


def sha256_file(path, bufsize=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(bufsize)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()
