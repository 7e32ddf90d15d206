# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kong_install: version read, install and check in one call (command and path methods)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_install as ki


class Node:
    """A node whose `kong version` prints self.version; the install command sets it to `installs_to`."""

    def __init__(self, version, installs_to=None, fail_install=False):
        self.version, self.installs_to, self.fail_install, self.calls = version, installs_to, fail_install, []

    def __call__(self, argv):
        self.calls.append(list(argv))
        if argv[-1] == "version":
            if self.version is None:
                raise OSError(2, "No such file or directory")
            return 0, "Kong %s\n" % self.version, ""
        if self.fail_install:
            return 2, "", "no such release"
        self.version = self.installs_to
        return 0, "", ""


def params(**kw):
    p = dict(version="3.4.2", method="command", kong_bin="/usr/local/bin/kong", install_command=["kong-install", "3.4.2"],
             release_root="/opt/kong/releases", bin_link="/usr/local/bin/kong")
    p.update(kw)
    return p


def test_read_version():
    assert ki.read_version(Node("3.4.3.12"), "kong") == "3.4.3.12"
    assert ki.read_version(Node(None), "kong") == ""
    assert ki.read_version(lambda argv: (1, "", "broken"), "kong") == ""


def test_command_install_reads_before_and_after():
    node = Node("2.8.4", installs_to="3.4.2")
    out = ki.run_install(params(), node)
    assert out["version_before"] == "2.8.4" and out["version"] == "3.4.2" and out["changed"] and out["actions"] == ["command"]
    assert node.calls == [["/usr/local/bin/kong", "version"], ["kong-install", "3.4.2"], ["/usr/local/bin/kong", "version"]]


def test_already_installed_does_nothing():
    node = Node("3.4.2")
    out = ki.run_install(params(), node)
    assert not out["changed"] and not out["install_needed"] and len(node.calls) == 1


def test_check_mode_reports_the_plan_only():
    node = Node("2.8.4", installs_to="3.4.2")
    out = ki.run_install(params(), node, check_mode=True)
    assert out["changed"] and out["install_needed"] and node.calls == [["/usr/local/bin/kong", "version"]]


def test_install_that_leaves_another_version_fails_with_the_old_message():
    with pytest.raises(ki.InstallError) as err:
        ki.run_install(params(), Node("2.8.4", installs_to="3.9.0"))
    assert err.value.msg == "After installing by 'command', /usr/local/bin/kong reports '3.9.0', not 3.4.2."


def test_failing_install_command():
    with pytest.raises(ki.InstallError, match="rc 2.*no such release"):
        ki.run_install(params(), Node("2.8.4", fail_install=True))


def test_path_method_links_an_existing_release(tmp_path):
    release = tmp_path / "releases" / "3.4.2" / "bin"
    release.mkdir(parents=True)
    (release / "kong").write_text("#!/bin/sh\n")
    link = str(tmp_path / "kong")
    os.symlink("/nowhere", link)
    node = Node("2.8.4")

    def linked(src, dest):
        ki.replace_symlink(src, dest)
        node.version = "3.4.2"

    out = ki.run_install(params(method="path", release_root=str(tmp_path / "releases"), bin_link=link, install_command=[]), node, link=linked)
    assert out["actions"] == ["link"] and os.readlink(link) == str(release / "kong")
    assert node.calls[0] == [link, "version"]


def test_path_method_missing_release():
    with pytest.raises(ki.InstallError, match="does not exist; install the release there"):
        ki.run_install(params(method="path", install_command=[]), Node("2.8.4"), exists=lambda p: False)
    node = Node("2.8.4", installs_to="3.4.2")
    out = ki.run_install(params(method="path"), node, exists=lambda p: False, link=lambda s, d: None)
    assert out["actions"] == ["command", "link"]
