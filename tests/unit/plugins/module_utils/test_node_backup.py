# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_backup: the kong_node_backup module's logic (one-pass file backup and restore of a Kong node)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import node_backup as nb


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def node(tmp_path):
    """A node: kong.conf naming a certificate (outside the prefix) and a declarative file; a prefix with ssl/."""
    d = tmp_path / "node"
    (d / "prefix" / "ssl").mkdir(parents=True)
    (d / "prefix" / "ssl" / "kong-default.crt").write_text("crt\n")
    (d / "prefix" / "ssl" / "kong-default.key").write_text("key\n")
    (d / "prefix" / "ssl" / ".hidden").write_text("hidden\n")
    (d / "prefix" / "nginx.conf").write_text("nginx\n")
    (d / "certs").mkdir()
    (d / "certs" / "cluster.crt").write_text("cluster crt\n")
    (d / "certs" / "cluster.key").write_text("cluster key\n")
    (d / "kong.yml").write_text("_format_version: '3.0'\n")
    conf = d / "kong.conf"
    conf.write_text("pg_password = s3cret  # comment\ncluster_cert = %s\ncluster_cert_key = %s\ndeclarative_config = %s\n"
                    "lua_ssl_trusted_certificate = system,%s\n"
                    % (d / "certs" / "cluster.crt", d / "certs" / "cluster.key", d / "kong.yml", d / "certs" / "cluster.crt"))
    os.chmod(str(conf), 0o640)
    return d


def backup(tmp_path, node, **kw):
    root = str(tmp_path / "backups")
    dest = os.path.join(root, "run1", "host1")
    args = dict(paths=[str(node / "prefix" / "ssl") + "/", str(node / "prefix" / "nginx.conf"), str(node / "absent.yml")],
                host="host1", prefix=str(node / "prefix"))
    args.update(kw)
    return nb.run_backup(root, dest, str(node / "kong.conf"), **args)


def test_candidates_from_conf_refs_unique_and_normalized(node):
    cands = nb.candidates(str(node / "kong.conf"), [str(node / "prefix" / "ssl") + "/", str(node / "kong.conf")])
    assert cands[0] == str(node / "kong.conf")
    assert cands.count(str(node / "kong.conf")) == 1
    assert str(node / "prefix" / "ssl") in cands
    assert str(node / "certs" / "cluster.crt") in cands and str(node / "certs" / "cluster.key") in cands
    assert str(node / "kong.yml") in cands
    assert "system" not in cands


def test_candidates_without_a_readable_conf(tmp_path):
    assert nb.candidates(str(tmp_path / "none.conf"), ["/x/"]) == [str(tmp_path / "none.conf"), "/x"]


def test_backup_copies_everything_private_with_checksums(tmp_path, node):
    res = backup(tmp_path, node)
    dest = str(tmp_path / "backups" / "run1" / "host1")
    assert res["changed"] and res["path"] == dest
    srcs = sorted(f["src"] for f in res["files"])
    names = ("kong.conf", "prefix/ssl/kong-default.crt", "prefix/ssl/kong-default.key", "prefix/ssl/.hidden",
             "prefix/nginx.conf", "certs/cluster.crt", "certs/cluster.key", "kong.yml")
    expected = sorted(str(node / p) for p in names)
    assert srcs == expected
    assert res["missing"] == [str(node / "absent.yml")]
    for f in res["files"]:
        assert f["dest"] == dest + f["src"]
        with open(f["src"], "rb") as src, open(f["dest"], "rb") as copy:
            data = src.read()
            assert copy.read() == data
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert mode(f["dest"]) == 0o600
    conf_entry = [f for f in res["files"] if f["src"] == str(node / "kong.conf")][0]
    assert conf_entry["mode"] == "0640" and conf_entry["uid"] == os.getuid()
    for root, dirs, _files in os.walk(str(tmp_path / "backups")):
        assert mode(root) == 0o700, root
    manifest = json.load(open(os.path.join(dest, "manifest.json")))
    assert mode(os.path.join(dest, "manifest.json")) == 0o600
    assert manifest["host"] == "host1" and manifest["files"] == res["files"] and manifest["missing"] == res["missing"]
    assert not [n for n in os.listdir(os.path.dirname(conf_entry["dest"])) if n.endswith(".tmp")]


def test_rerun_changes_nothing_and_a_changed_file_is_copied_again(tmp_path, node):
    backup(tmp_path, node)
    again = backup(tmp_path, node)
    assert not again["changed"] and again["copied"] == [] and again["directories_fixed"] == []
    (node / "prefix" / "nginx.conf").write_text("nginx v2\n")
    third = backup(tmp_path, node)
    assert third["changed"] and third["copied"] == [str(node / "prefix" / "nginx.conf")]
    dest = [f["dest"] for f in third["files"] if f["src"] == str(node / "prefix" / "nginx.conf")][0]
    assert open(dest).read() == "nginx v2\n"


def test_loose_modes_are_tightened(tmp_path, node):
    res = backup(tmp_path, node)
    os.chmod(res["files"][0]["dest"], 0o644)
    os.chmod(str(tmp_path / "backups"), 0o755)
    again = backup(tmp_path, node)
    assert again["changed"]
    assert mode(res["files"][0]["dest"]) == 0o600 and mode(str(tmp_path / "backups")) == 0o700


def test_check_mode_writes_nothing_and_predicts(tmp_path, node):
    res = backup(tmp_path, node, check_mode=True)
    assert res["changed"] and len(res["copied"]) == len(res["files"]) > 0
    assert not (tmp_path / "backups").exists()
    backup(tmp_path, node)
    assert not backup(tmp_path, node, check_mode=True)["changed"]


def test_dest_outside_the_root_is_refused(tmp_path, node):
    with pytest.raises(nb.NodeBackupError, match="not under the backup root"):
        nb.run_backup(str(tmp_path / "backups"), str(tmp_path / "elsewhere"), str(node / "kong.conf"), [])


def test_symlinks_inside_directories_are_skipped(tmp_path, node):
    os.symlink(str(node / "kong.conf"), str(node / "prefix" / "ssl" / "link.conf"))
    res = backup(tmp_path, node)
    assert str(node / "prefix" / "ssl" / "link.conf") not in [f["src"] for f in res["files"]]


def test_restore_from_manifest_puts_content_and_mode_back(tmp_path, node):
    res = backup(tmp_path, node)
    conf = node / "kong.conf"
    original = conf.read_text()
    conf.write_text("changed by Y\n")
    os.chmod(str(conf), 0o600)
    (node / "kong.yml").unlink()
    items = nb.restore_items([], nb.read_manifest(res["path"]))
    plan = nb.run_restore(items, check_mode=True)
    assert sorted(plan["restored"]) == sorted([str(conf), str(node / "kong.yml")])
    assert conf.read_text() == "changed by Y\n"
    done = nb.run_restore(nb.restore_items([], nb.read_manifest(res["path"])))
    assert sorted(done["restored"]) == sorted(plan["restored"])
    assert conf.read_text() == original and mode(str(conf)) == 0o640
    assert (node / "kong.yml").exists()
    assert nb.run_restore(nb.restore_items([], nb.read_manifest(res["path"])))["restored"] == []


def test_restore_refuses_a_corrupt_copy_before_changing_anything(tmp_path, node):
    res = backup(tmp_path, node)
    (node / "kong.conf").write_text("changed\n")
    (node / "kong.yml").write_text("changed\n")
    corrupt = [f["dest"] for f in res["files"] if f["src"] == str(node / "kong.yml")][0]
    with open(corrupt, "a") as f:
        f.write("tampered\n")
    with pytest.raises(nb.NodeBackupError, match="does not match the manifest"):
        nb.run_restore(nb.restore_items([], nb.read_manifest(res["path"])))
    assert (node / "kong.conf").read_text() == "changed\n"


def test_restore_explicit_pairs_with_and_without_manifest(tmp_path, node):
    res = backup(tmp_path, node)
    (node / "kong.yml").write_text("converted\n")
    pair = [{"backup": f["dest"], "path": f["src"]} for f in res["files"] if f["src"] == str(node / "kong.yml")]
    items = nb.restore_items(pair, nb.read_manifest(res["path"]))
    assert len(items) == 1 and items[0]["sha256"]
    assert nb.run_restore(items)["restored"] == [str(node / "kong.yml")]
    assert (node / "kong.yml").read_text() == "_format_version: '3.0'\n"
    own = tmp_path / "kong.yml.bak"
    own.write_text("older\n")
    out = nb.run_restore(nb.restore_items([{"backup": str(own), "path": str(node / "kong.yml")}], None))
    assert out["restored"] == [str(node / "kong.yml")] and (node / "kong.yml").read_text() == "older\n"


def test_restore_missing_copy_and_bad_items(tmp_path):
    with pytest.raises(nb.NodeBackupError, match="is missing"):
        nb.run_restore(nb.restore_items([{"backup": str(tmp_path / "nope"), "path": str(tmp_path / "x")}]))
    with pytest.raises(nb.NodeBackupError, match="needs backup and path"):
        nb.restore_items([{"backup": "/a"}])
    with pytest.raises(nb.NodeBackupError, match="cannot read the backup manifest"):
        nb.read_manifest(str(tmp_path))
