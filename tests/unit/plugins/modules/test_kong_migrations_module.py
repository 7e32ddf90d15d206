# -*- coding: utf-8 -*-
"""The kong_migrations and kong_declarative modules end to end with a fake ``kong`` executable.

The fake records its argument list and whether it received KONG_PG_PASSWORD in its environment, so
the tests show the password is passed through the environment only and appears in no output.
"""

import json
import os
import stat
import sys

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 (the core matrix): a module reads its arguments from basic._ANSIBLE_ARGS
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

from ansible_collections.kongops.upgrade.plugins.modules import kong_declarative as decl_module
from ansible_collections.kongops.upgrade.plugins.modules import kong_migrations as mig_module

SECRET = "pw-Unit-7f3c9"

FAKE_KONG = r'''#!%(python)s
import json, os, sys
state_file = %(state)r
with open(%(log)r, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "has_pw": os.environ.get("KONG_PG_PASSWORD") == %(secret)r}) + "\n")
args = sys.argv[1:]
if args[:1] == ["version"]:
    print("3.4.2")
    sys.exit(0)
st = json.load(open(state_file))
if args[:2] == ["migrations", "status"]:
    doc = {"needs_bootstrap": False, "executed_migrations": [{"subsystem": "core", "namespace": "x", "migrations": st["executed"]}]}
    if st["new"]:
        doc["new_migrations"] = [{"subsystem": "core", "namespace": "x", "migrations": st["new"]}]
    print(json.dumps(doc))
    sys.exit(0)
if args[:2] == ["migrations", "up"]:
    for n in st["new"]:
        print("core migrated up to: %%s (executed)" %% n)
    st["executed"] += st["new"]
    st["new"] = []
    json.dump(st, open(state_file, "w"))
    sys.exit(0)
if args[:2] == ["config", "parse"]:
    text = open(args[2]).read()
    if "3.0" in text and "bad" not in text:
        print("parse successful")
        sys.exit(0)
    sys.stderr.write("Error: Failed parsing:\nin 'routes': bad\n\n  Run with --v (verbose) or --vv (debug) for more details\n")
    sys.exit(1)
sys.exit(2)
'''


@pytest.fixture
def fake_kong(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"executed": ["000_base"], "new": ["016_280_to_300"]}))
    log = tmp_path / "argv.log"
    path = tmp_path / "kong"
    path.write_text(FAKE_KONG % {"python": sys.executable, "state": str(state), "log": str(log), "secret": SECRET})
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path, log, state


def run_module(mod, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


def test_up_passes_password_only_through_environment(fake_kong, capsys):
    kong, log, state = fake_kong
    out = run_module(mig_module, {"kong_bin": str(kong), "state": "up", "environment": {"KONG_PG_PASSWORD": SECRET}}, capsys)
    assert out["changed"] is True and not out.get("failed")
    assert out["after"]["executed"] == {"core": ["000_base", "016_280_to_300"]}
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(c["argv"][:2] == ["migrations", "up"] for c in calls)
    assert all(c["has_pw"] for c in calls)
    assert SECRET not in log.read_text()
    assert SECRET not in json.dumps(out)
    # Idempotent: nothing new -> nothing runs.
    out = run_module(mig_module, {"kong_bin": str(kong), "state": "up", "environment": {"KONG_PG_PASSWORD": SECRET}}, capsys)
    assert out["changed"] is False and out["runs"] == []


def test_environment_rejects_non_kong_variables(fake_kong, capsys):
    kong, _log, _state = fake_kong
    out = run_module(mig_module, {"kong_bin": str(kong), "environment": {"PGPASSWORD": SECRET}}, capsys)
    assert out["failed"] and "KONG_" in out["msg"]
    assert SECRET not in json.dumps(out)


def test_declarative_validates_before_writing(fake_kong, tmp_path, capsys):
    kong, _log, _state = fake_kong
    good = tmp_path / "kong.yml"
    good.write_text('_format_version: "2.1"\nroutes:\n- name: r\n  paths: ["/a/\\\\d+"]\n')
    out = run_module(decl_module, {"path": str(good), "validate": True, "kong_bin": str(kong), "backup": True,
                                   "backup_dir": str(tmp_path / "b")}, capsys)
    assert out["changed"] and out["validation"]["rc"] == 0
    assert "~/a/\\d+" in good.read_text()
    assert oct(os.stat(out["backup_file"]).st_mode & 0o777) == "0o600"
    assert oct(os.stat(str(tmp_path / "b")).st_mode & 0o777) == "0o700"
    out = run_module(decl_module, {"path": str(good), "validate": True, "kong_bin": str(kong), "backup": True,
                                   "backup_dir": str(tmp_path / "b")}, capsys)
    assert out["changed"] is False and len(os.listdir(str(tmp_path / "b"))) == 1

    bad = tmp_path / "bad.yml"
    original = '_format_version: "2.1"\nroutes:\n- name: bad\n  paths: ["/x/(y"]\n'
    bad.write_text(original)
    out = run_module(decl_module, {"path": str(bad), "validate": True, "kong_bin": str(kong)}, capsys)
    assert out["failed"] and "nothing written" in out["msg"]
    assert bad.read_text() == original
