# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin kong_state: read, merge and write an upgrade's state file in the controller.

The state file lives on the controller. Reading it with slurp and writing it with copy started three modules per
update (slurp, copy's stat and copy): 3 to 20 s on a loaded controller, inside the in-place downtime window
(docs/performance.md). Here the work runs in the controller process, with no module at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


def render(state):
    """The file's text: the same layout as Ansible's to_nice_json, so unchanged content is recognised."""
    return json.dumps(state, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def read_state(path):
    """(state dict, text or None when the file is absent)."""
    try:
        with open(path, "r") as f:
            text = f.read()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        raise AnsibleActionFail("cannot read the state file %s: %s" % (path, exc))
    try:
        state = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise AnsibleActionFail("the state file %s is not JSON (%s); move it away to start the run's record afresh" % (path, exc))
    if not isinstance(state, dict):
        raise AnsibleActionFail("the state file %s holds a JSON %s, not an object" % (path, type(state).__name__))
    return state, text


def write_state(path, text):
    """Atomically (a 0600 temporary file in the same directory, then rename); the directory is made 0700 if absent."""
    directory = os.path.dirname(path) or "."
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise AnsibleActionFail("cannot write the state file %s: %s" % (path, exc))


def merge_state(path, update, write=True):
    """Read path, merge update into it (top-level keys, like the combine filter), write it when that changes it.

    Returns (state, found, changed); with write=False (check mode) nothing is written.
    """
    state, text = read_state(path)
    merged = dict(state)
    merged.update(update or {})
    changed = bool(update) and render(merged) != text
    if changed and write:
        write_state(path, render(merged))
    return merged, text is not None, changed


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        unknown = sorted(set(args) - {"path", "update"})
        if unknown:
            raise AnsibleActionFail("unsupported parameters: %s (supported: path, update)" % ", ".join(unknown))
        path = args.get("path")
        if not path:
            raise AnsibleActionFail("path is required (the state file on the controller)")
        path = os.path.expanduser(to_text(path))
        update = args.get("update") or {}
        if not isinstance(update, dict):
            raise AnsibleActionFail("update must be a dictionary, got %s" % type(update).__name__)
        state, found, changed = merge_state(path, update, write=not self._task.check_mode)
        result.update(state=state, found=found, changed=changed, path=path)
        return result
