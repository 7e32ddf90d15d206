# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File backup and restore of one Kong node, in one pass (the kong_node_backup module).

Backup: every candidate path (kong.conf, the prefix's certificates and templates, the files kong.conf names, the
keyring directory, the declarative file, extra paths) that exists is copied to ``<dest>/<its absolute path>``;
directories are walked (hidden files included, symbolic links inside them skipped). Directories from the backup root
down are 0700, files 0600 (they hold pg_password and private keys). ``manifest.json`` lists every copy with its
sha256, size and the original's mode, owner and group, and the candidates that were absent. A file whose copy
already has the same content and mode is not written again, so a rerun with the same destination changes nothing.

Restore: each ``{backup, path}`` pair is copied back (after checking the copy's sha256 when the manifest gives one),
with the original's mode, owner and group when known; a file that already has that content and mode is left alone.

Plain Python (no Ansible imports); unit-tested in tests/unit/plugins/module_utils/test_node_backup.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile

from ansible_collections.kongops.upgrade.plugins.module_utils import checksum
from ansible_collections.kongops.upgrade.plugins.module_utils import kong_conf

MANIFEST_NAME = "manifest.json"
DIR_MODE = 0o700
FILE_MODE = 0o600


class NodeBackupError(Exception):
    pass


def normalize(path):
    """Absolute path without trailing slashes (``/etc/kong/`` -> ``/etc/kong``)."""
    path = str(path).strip()
    stripped = path.rstrip("/")
    return stripped if stripped else path


def conf_candidates(conf_path):
    """Files named in kong.conf (certificates, keys, keyring, license, declarative file); [] when it is unreadable."""
    try:
        with open(conf_path, "r", errors="replace") as f:
            text = f.read()
    except (IOError, OSError):
        return []
    return kong_conf.file_refs(kong_conf.parse_settings(text))


def candidates(conf_path, paths):
    """kong.conf, then ``paths``, then the files kong.conf names: normalized, unique, in that order."""
    out = []
    for p in [conf_path] + list(paths or []) + conf_candidates(conf_path):
        if not p:
            continue
        p = normalize(p)
        if p not in out:
            out.append(p)
    return out


def expand(paths):
    """(files, missing): regular files of the candidates (directories walked, sorted) and the absent candidates."""
    files, missing = [], []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if not os.path.islink(full) and os.path.isfile(full):
                        files.append(full)
        elif os.path.isfile(p):
            files.append(p)
        else:
            missing.append(p)
    unique = []
    for f in files:
        if f not in unique:
            unique.append(f)
    return unique, missing


def backup_dest(dest, src):
    return os.path.join(dest, src.lstrip("/"))


def _same(path, digest, mode):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode and checksum.sha256_file(path) == digest


def _copy_private(src, dest, mode=FILE_MODE):
    """Copy src to dest through a temporary file in dest's directory (created 0600), then rename; returns its sha256."""
    directory = os.path.dirname(dest)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest), suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            while True:
                chunk = f.read(1024 * 1024)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
        os.chmod(tmp, mode)
        os.rename(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def _private_dirs(root, dest, directories, check_mode):
    """Make root and every directory from root down to dest and to each of ``directories`` 0700 (parents first);
    returns those created or chmodded."""
    wanted = [root]
    for target in [dest] + sorted(set(directories)):
        rel = os.path.relpath(target, root)
        if rel == ".." or rel.startswith(".." + os.sep):
            raise NodeBackupError("%s is not under the backup root %s" % (target, root))
        cur = root
        for part in [] if rel == "." else rel.split(os.sep):
            cur = os.path.join(cur, part)
            if cur not in wanted:
                wanted.append(cur)
    changed = []
    for d in wanted:
        if os.path.isdir(d):
            if stat.S_IMODE(os.stat(d).st_mode) != DIR_MODE:
                changed.append(d)
                if not check_mode:
                    os.chmod(d, DIR_MODE)
        else:
            changed.append(d)
            if not check_mode:
                os.makedirs(d, DIR_MODE)
                os.chmod(d, DIR_MODE)
    return changed


def write_json_private(path, data):
    """Write JSON through a 0600 temporary file and rename; returns True when the content changed."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        with open(path, "r") as f:
            if f.read() == text and stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE:
                return False
    except (IOError, OSError):
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, FILE_MODE)
    os.rename(tmp, path)
    return True


def run_backup(root, dest, conf_path, paths, host="", prefix="", check_mode=False):
    """Back up the node's files into dest (under root). Returns the module result (changed, path, files, missing, ...)."""
    root, dest = normalize(root), normalize(dest)
    if not os.path.isabs(root) or not os.path.isabs(dest):
        raise NodeBackupError("the backup root and destination must be absolute paths (%s, %s)" % (root, dest))
    cands = candidates(conf_path, paths)
    srcs, missing = expand(cands)
    files, copied = [], []
    for src in srcs:
        st = os.stat(src)
        entry = {"src": src, "dest": backup_dest(dest, src), "sha256": checksum.sha256_file(src), "size": st.st_size,
                 "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
        files.append(entry)
        if not _same(entry["dest"], entry["sha256"], FILE_MODE):
            copied.append(src)
    dirs = _private_dirs(root, dest, [os.path.dirname(f["dest"]) for f in files], check_mode)
    manifest = {"host": host, "conf_path": conf_path, "prefix": prefix, "files": files, "missing": missing}
    manifest_path = os.path.join(dest, MANIFEST_NAME)
    manifest_changed = False
    if check_mode:
        try:
            with open(manifest_path) as f:
                manifest_changed = json.load(f) != manifest
        except (IOError, OSError, ValueError):
            manifest_changed = True
    else:
        by_src = dict((f["src"], f) for f in files)
        for src in copied:
            entry = by_src[src]
            digest = _copy_private(src, entry["dest"])
            if digest != entry["sha256"]:
                # The file changed between the checksum and the copy: record what was copied.
                entry["sha256"] = digest
                entry["size"] = os.stat(entry["dest"]).st_size
        for entry in files:
            if checksum.sha256_file(entry["dest"]) != entry["sha256"]:
                raise NodeBackupError("the copy %s does not match its source's checksum" % entry["dest"])
        manifest_changed = write_json_private(manifest_path, manifest)
    return {"changed": bool(copied or dirs or manifest_changed), "path": dest, "manifest": manifest_path,
            "files": files, "missing": missing, "copied": copied, "directories_fixed": dirs}


def read_manifest(path):
    """The manifest of a backup directory (or the manifest file itself)."""
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError) as exc:
        raise NodeBackupError("cannot read the backup manifest %s: %s" % (path, exc))


def restore_items(files, manifest=None):
    """[{backup, path, sha256?, mode?, uid?, gid?}]: from ``files`` ({backup, path} or manifest-style {dest, src}) and,
    when given, the manifest's entries (matched by the original path)."""
    known = {}
    for f in (manifest or {}).get("files", []):
        known[f["src"]] = {"backup": f["dest"], "path": f["src"], "sha256": f.get("sha256"), "mode": f.get("mode"),
                           "uid": f.get("uid"), "gid": f.get("gid")}
    items = []
    source = files if files else list(known.values())
    for f in source:
        backup = f.get("backup", f.get("dest"))
        path = f.get("path", f.get("src"))
        if not backup or not path:
            raise NodeBackupError("a file to restore needs backup and path: %r" % (f,))
        item = dict(known.get(path, {}))
        item.update(dict((k, v) for k, v in f.items() if v is not None and k in ("sha256", "mode", "uid", "gid")))
        item.update(backup=backup, path=path)
        items.append(item)
    return items


def run_restore(items, check_mode=False):
    """Copy each backup back to its path. Fails before changing anything when a backup is missing or corrupt."""
    for item in items:
        if not os.path.isfile(item["backup"]):
            raise NodeBackupError("the backup copy %s of %s is missing" % (item["backup"], item["path"]))
        digest = checksum.sha256_file(item["backup"])
        if item.get("sha256") and digest != item["sha256"]:
            raise NodeBackupError("the backup copy %s of %s does not match the manifest's sha256" % (item["backup"], item["path"]))
        item["_digest"] = digest
    restored = []
    for item in items:
        path, digest = item["path"], item.pop("_digest")
        exists = os.path.isfile(path)
        if item.get("mode"):
            mode = int(str(item["mode"]), 8)
        elif exists:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        else:
            mode = FILE_MODE
        owner = (item.get("uid"), item.get("gid"))
        same = exists and _same(path, digest, mode)
        if same and owner[0] is not None:
            st = os.stat(path)
            same = (st.st_uid, st.st_gid) == (owner[0], owner[1] if owner[1] is not None else st.st_gid)
        if same:
            continue
        restored.append(path)
        if check_mode:
            continue
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), DIR_MODE)
        _copy_private(item["backup"], path, mode)
        if owner[0] is not None and hasattr(os, "chown"):
            try:
                os.chown(path, owner[0], owner[1] if owner[1] is not None else -1)
            except OSError as exc:
                raise NodeBackupError("restored %s but could not give it back to uid %s gid %s: %s" % (path, owner[0], owner[1], exc))
    return {"changed": bool(restored), "restored": restored, "files": [dict((k, v) for k, v in i.items()) for i in items]}
