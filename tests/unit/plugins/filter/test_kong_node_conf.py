# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the kong_node role's kong.conf filters, including the role's real table of setting changes."""

from __future__ import absolute_import, division, print_function

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.kongops.upgrade.plugins.filter.kong_node_conf import (
    FilterModule,
    kong_conf_file_refs,
    kong_conf_findings,
    kong_conf_settings,
    version_tuple,
)

ROLE_VARS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "kong_node", "vars", "main.yml")

CONF = """
# a comment = ignored
#go_plugins_dir = off        # commented out: not active
prefix = /usr/local/kong/
  pg_password = s3cret#notacomment?   # trailing comment
pg_ssl_version = tlsv1
go_pluginserver_exe = /usr/local/bin/go-pluginserver
log_level = notice
log_level = debug
real_hash = a\\#b
"""


def table():
    with open(ROLE_VARS) as f:
        return yaml.safe_load(f)["kong_node_conf_key_changes"]


def test_settings_parse_active_lines_only():
    settings = kong_conf_settings(CONF)
    assert "go_plugins_dir" not in settings
    assert settings["prefix"] == "/usr/local/kong/"
    assert settings["pg_password"] == "s3cret"
    assert settings["log_level"] == "debug"
    assert settings["real_hash"] == "a#b"


@pytest.mark.parametrize("version,expected", [
    ("3.4.2", (3, 4, 2, 0)), ("3.4.3.12", (3, 4, 3, 12)), ("3.8.0.0-enterprise-edition", (3, 8, 0, 0)), ("2.8", (2, 8, 0, 0)),
])
def test_version_tuple(version, expected):
    assert version_tuple(version) == expected


def test_version_tuple_rejects_garbage():
    with pytest.raises(AnsibleFilterError):
        version_tuple("latest")


def test_findings_from_role_table_2_8_to_3_4():
    found = kong_conf_findings(kong_conf_settings(CONF), table(), "3.4.2", "2.8.4")
    keys = sorted(f["key"] for f in found)
    assert keys == ["go_pluginserver_exe", "pg_ssl_version"]
    assert all(f["source"] for f in found)


def test_findings_respect_the_window():
    settings = kong_conf_settings(CONF)
    # Already on 3.0: go_pluginserver_exe was removed before X, only the 3.2.2.1 value check applies.
    assert [f["key"] for f in kong_conf_findings(settings, table(), "3.4.2", "3.0.1")] == ["pg_ssl_version"]
    # Up to 3.2.2.0 only: pg_ssl_version = tlsv1 is still valid.
    assert [f["key"] for f in kong_conf_findings(settings, table(), "3.2.2.0", "3.0.1")] == []


def test_invalid_value_only_when_the_value_matches():
    settings = {"pg_ssl_version": "tlsv1_2", "database": "postgres"}
    assert kong_conf_findings(settings, table(), "3.9.0") == []
    settings = {"database": "cassandra"}
    assert [f["key"] for f in kong_conf_findings(settings, table(), "3.4.0")] == ["database"]
    assert kong_conf_findings(settings, table(), "3.3.1") == []


def test_secret_values_are_masked():
    changes = [{"key": "pg_password", "version": "3.0.0", "change": "removed"}]
    found = kong_conf_findings({"pg_password": "s3cret"}, changes, "3.4.0")
    assert found[0]["value"] == "******"


def test_file_refs():
    settings = kong_conf_settings("""
cluster_cert = /etc/kong/cluster.crt
cluster_cert_key = /etc/kong/cluster.key
ssl_cert = /etc/kong/a.crt, /etc/kong/b.crt
ssl_cert_key = /etc/kong/a.key,/etc/kong/b.key
lua_ssl_trusted_certificate = system
cluster_ca_cert = LS0tLS1CRUdJTi==
declarative_config = /etc/kong/kong.yml
prefix = /usr/local/kong
pg_password = /not/a/file
""")
    assert kong_conf_file_refs(settings) == [
        "/etc/kong/a.crt", "/etc/kong/a.key", "/etc/kong/b.crt", "/etc/kong/b.key",
        "/etc/kong/cluster.crt", "/etc/kong/cluster.key", "/etc/kong/kong.yml",
    ]


def test_filters_registered():
    assert set(FilterModule().filters()) == {"kong_conf_settings", "kong_conf_findings", "kong_conf_file_refs"}
