# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the kong_state action's read-merge-write of a state file."""

from __future__ import absolute_import, division, print_function

import json
import os
import stat

import pytest

from ansible.errors import AnsibleActionFail
from ansible_collections.kongops.upgrade.plugins.action.kong_state import merge_state, render


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_write_creates_a_private_directory_and_file(tmp_path):
    path = str(tmp_path / "reports" / "state-kong.json")
    state, found, changed = merge_state(path, {"phase": "backed_up", "backup_path": "/b"})
    assert (state, found, changed) == ({"phase": "backed_up", "backup_path": "/b"}, False, True)
    assert json.loads(open(path).read()) == state
    assert mode(path) == 0o600
    assert mode(os.path.dirname(path)) == 0o700


def test_update_merges_top_level_keys_and_keeps_the_rest(tmp_path):
    path = str(tmp_path / "s.json")
    merge_state(path, {"phase": "backed_up", "nodes": {"dp1": {"phase": "backed_up"}}, "from_version": "2.8.4"})
    state, found, changed = merge_state(path, {"phase": "replaced", "nodes": {"dp2": {"phase": "replaced"}}})
    # like the combine filter: a top-level key is replaced as a whole
    assert state == {"phase": "replaced", "nodes": {"dp2": {"phase": "replaced"}}, "from_version": "2.8.4"}
    assert found and changed
    assert json.loads(open(path).read()) == state


def test_same_update_again_changes_nothing_and_does_not_rewrite(tmp_path):
    path = str(tmp_path / "s.json")
    merge_state(path, {"phase": "done", "downtime_seconds": 12.5})
    before = os.stat(path).st_mtime_ns, os.stat(path).st_ino
    state, found, changed = merge_state(path, {"phase": "done"})
    assert changed is False and found is True
    assert (os.stat(path).st_mtime_ns, os.stat(path).st_ino) == before


def test_read_only_and_absent_file(tmp_path):
    path = str(tmp_path / "none" / "s.json")
    assert merge_state(path, {}) == ({}, False, False)
    assert not os.path.exists(os.path.dirname(path))


def test_check_mode_reports_but_writes_nothing(tmp_path):
    path = str(tmp_path / "s.json")
    merge_state(path, {"phase": "backed_up"})
    text = open(path).read()
    state, found, changed = merge_state(path, {"phase": "migrating"}, write=False)
    assert state["phase"] == "migrating" and changed is True
    assert open(path).read() == text


def test_layout_is_ansible_to_nice_json(tmp_path):
    # the file written by earlier releases (copy of to_nice_json) is recognised as unchanged
    from ansible.plugins.filter.core import to_nice_json
    data = {"b": [1, 2], "a": {"z": True, "y": None}, "phase": "done"}
    assert render(data) == to_nice_json(data) + "\n"
    path = str(tmp_path / "s.json")
    with open(path, "w") as f:
        f.write(to_nice_json(data) + "\n")
    assert merge_state(path, {"phase": "done"})[2] is False


@pytest.mark.parametrize("content, words", [("{not json", "is not JSON"), ("[1, 2]", "not an object")])
def test_a_damaged_file_stops_with_the_path_and_is_left_alone(tmp_path, content, words):
    path = str(tmp_path / "s.json")
    with open(path, "w") as f:
        f.write(content)
    with pytest.raises(AnsibleActionFail) as err:
        merge_state(path, {"phase": "x"})
    assert words in str(err.value) and path in str(err.value)
    assert open(path).read() == content


def test_no_temporary_file_is_left_behind(tmp_path):
    path = str(tmp_path / "s.json")
    for i in range(3):
        merge_state(path, {"i": i})
    assert sorted(os.listdir(str(tmp_path))) == ["s.json"]
