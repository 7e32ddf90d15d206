# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a Kong release by a custom command or per-version install paths, in one call (the kong_install module).

Reads the installed version first (``kong version`` of the node's command) and does nothing when it already is the
target; otherwise runs the install command, or (path method) makes the release's ``bin/kong`` current by pointing the
symlink at it, installing the release with the command first when it is missing; then reads the version again and
fails unless it is the target. Check mode reads and reports the plan.

Plain Python: ``runner(argv) -> (rc, out, err)``, ``exists(path)`` and ``link(src, dest)`` are injected.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?")


class InstallError(Exception):
    def __init__(self, msg, **details):
        super(InstallError, self).__init__(msg)
        self.msg = msg
        self.details = details


def read_version(runner, kong_bin):
    """The version ``kong version`` prints, '' when there is no working kong command."""
    try:
        rc, out, _err = runner([kong_bin, "version"])
    except (IOError, OSError):
        return ""
    if rc != 0:
        return ""
    m = _VERSION.search(out or "")
    return m.group(0) if m else ""


def replace_symlink(src, dest):
    """Point dest at src atomically (a temporary link renamed over it)."""
    tmp = "%s.kongops-tmp" % dest
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.rename(tmp, dest)


def run_install(p, runner, exists=os.path.exists, link=replace_symlink, check_mode=False):
    method, version = p["method"], p["version"]
    if not version or method not in ("command", "path"):
        raise InstallError("set the version and a method of command or path")
    if method == "command" and not p["install_command"]:
        raise InstallError("the command method needs install_command (an argv list)")
    read_bin = p["bin_link"] if method == "path" else p["kong_bin"]
    before = read_version(runner, read_bin)
    result = {"version_before": before, "version": before, "install_needed": before != version, "changed": False, "actions": []}
    if not result["install_needed"]:
        return result
    release_bin = os.path.join(p["release_root"], version, "bin", "kong")
    actions = []
    if method == "command":
        actions.append("command")
    else:
        if not exists(release_bin):
            if not p["install_command"]:
                raise InstallError("%s does not exist; install the release there or set kong_node_install_command." % release_bin, **result)
            actions.append("command")
        actions.append("link")
    result.update(changed=True, actions=actions)
    if check_mode:
        return result
    for action in actions:
        if action == "command":
            argv = [str(a) for a in p["install_command"]]
            rc, out, err = runner(argv)
            if rc != 0:
                raise InstallError("the install command failed (rc %s): %s" % (rc, (err or out or "").strip()[-2000:]), **result)
        else:
            link(release_bin, p["bin_link"])
    after = read_version(runner, read_bin)
    result["version"] = after
    if after != version:
        raise InstallError("After installing by '%s', %s reports '%s', not %s." % (method, read_bin, after, version), **result)
    return result
