# -*- coding: utf-8 -*-
"""2.x -> 3.0 declarative conversion (contract.md section 8, decK's convert rules)."""

import json

import pytest
import yaml

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_declarative as kd

YAML_21 = """\
_format_version: "2.1"
_transform: true
services:
- name: users
  url: http://127.0.0.1:9000
  routes:
  - name: user-by-id
    paths:
    - /users/\\d+$
    - /users
  - name: plain
    paths: [/a-b_c.d~e%20/]
routes:
- name: top
  service: users
  paths:
  - /v1/(orders|carts)
  - ~/already/\\d+
"""


def test_regex_detection():
    assert kd.is_regex_path(r"/users/\d+")
    assert kd.is_regex_path("/v1/(a|b)")
    assert kd.is_regex_path("/a$")
    assert not kd.is_regex_path("/plain/path-with_chars.~%20")
    assert not kd.is_regex_path(r"~/users/\d+")


def test_convert_yaml_reports_each_change():
    r = kd.convert_text(YAML_21, "kong.yml")
    assert r["changed"] and r["format"] == "yaml" and r["from_version"] == "2.1" and r["to_version"] == "3.0"
    doc = yaml.safe_load(r["text"])
    assert doc["_format_version"] == "3.0"
    assert doc["services"][0]["routes"][0]["paths"] == [r"~/users/\d+$", "/users"]
    assert doc["services"][0]["routes"][1]["paths"] == ["/a-b_c.d~e%20/"]
    assert doc["routes"][0]["paths"] == ["~/v1/(orders|carts)", r"~/already/\d+"]
    moved = [(c.get("route"), c["from"], c["to"]) for c in r["changes"] if c["location"] != "_format_version"]
    assert sorted(moved) == [("top", "/v1/(orders|carts)", "~/v1/(orders|carts)"), ("user-by-id", r"/users/\d+$", r"~/users/\d+$")]
    assert r["changes"][0] == {"location": "_format_version", "from": "2.1", "to": "3.0"}


def test_convert_is_idempotent():
    once = kd.convert_text(YAML_21, "kong.yml")
    twice = kd.convert_text(once["text"], "kong.yml")
    assert not twice["changed"] and twice["changes"] == [] and twice["text"] == once["text"]


def test_json_and_unquoted_float_version():
    src = json.dumps({"_format_version": "1.1", "routes": [{"name": "r", "paths": ["/x/[0-9]+"]}]})
    r = kd.convert_text(src, "kong.json")
    assert r["format"] == "json"
    assert json.loads(r["text"])["routes"][0]["paths"] == ["~/x/[0-9]+"]
    r2 = kd.convert_text("_format_version: 2.1\nroutes: []\n", "k.yaml")
    assert r2["from_version"] == "2.1" and r2["changed"]


def test_3_0_file_untouched_but_warned():
    src = '_format_version: "3.0"\nroutes:\n- name: r\n  paths: ["/x/\\\\d+"]\n'
    r = kd.convert_text(src, "k.yml")
    assert not r["changed"] and r["text"] == src
    assert len(r["warnings"]) == 1 and "plain prefix" in r["warnings"][0]


@pytest.mark.parametrize("src,needle", [
    ("routes: []\n", "no _format_version"),
    ("_format_version: '0.9'\n", "cannot convert"),
    ("- a\n- b\n", "mapping"),
    ("{not json", "invalid"),
])
def test_errors(src, needle):
    with pytest.raises(kd.DeclarativeError) as e:
        kd.convert_text(src, "f.json" if src.startswith("{") else "f.yml")
    assert needle in str(e.value)


def test_summarize_counts_nested():
    doc = yaml.safe_load(YAML_21)
    assert kd.summarize(doc) == {"services": 1, "routes": 3}
