# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kong_health: the health gate polled inside one module call, against scripted fake APIs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_health as kh
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_admin import KongApiError, KongApiUnreachable


class FakeApi:
    """Answers per path from a list of (status, body) consumed one per request (the last repeats); None = unreachable."""

    def __init__(self, base_url, token, script, log):
        self.base_url, self.token, self.script, self.log = base_url, token, script, log

    def request(self, method, path):
        self.log.append((self.base_url, path, self.token))
        answers = self.script[(self.base_url, path)]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer is None:
            raise KongApiUnreachable("cannot reach %s%s: refused" % (self.base_url, path))
        return answer

    def list_all(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise KongApiError("GET %s returned %s" % (path, status), status=status)
        return body["data"]


def params(**kw):
    p = dict(name="n1", check_admin=False, admin_url="", admin_token="", status_url="", proxy_url="", proxy_probe_path="",
             proxy_probe_status=[200], expected_version="", cp_admin_url="", cp_admin_token="", cp_host="cp1",
             dp_identity_field="hostname", dp_identity="", expected_config_hash="", retries=3, delay=2, timeout=5,
             validate_certs=True)
    p.update(kw)
    return p


def gate(p, script):
    log, sleeps = [], []
    summary = kh.run_gate(p, client=lambda url, token=None: FakeApi(url, token, script, log), sleep=sleeps.append, clock=lambda: 0.0)
    return summary, log, sleeps


ADMIN, STATUS, PROXY, CP = "http://a:8001", "http://a:8007", "http://a:8000", "http://cp:8001"
ROWS = [{"hostname": "dp-1", "version": "3.4.2", "sync_status": "normal", "config_hash": "a" * 32, "last_seen": 100},
        {"hostname": "dp-1", "version": "3.4.3", "sync_status": "normal", "config_hash": "b" * 32, "last_seen": 200},
        {"hostname": "dp-2", "version": "3.4.3", "sync_status": "kong_version_incompatible", "config_hash": "0" * 32, "last_seen": 200}]


def test_version_pattern():
    assert kh.version_matches("3.4.2", "3.4.2")
    assert kh.version_matches("3.8.0.0", "3.8.0.0-enterprise-edition")
    assert not kh.version_matches("3.4.2", "3.4.21")
    assert not kh.version_matches("3.4.2", "3.4.2.1")
    assert kh.version_matches("", "anything")


def test_ready_applies_from_3_3():
    assert kh.ready_applies("http://s", "3.3.0") and kh.ready_applies("http://s", "3.4.3.12") and kh.ready_applies("http://s", "")
    assert not kh.ready_applies("http://s", "3.2.2") and not kh.ready_applies("http://s", "2.8.4") and not kh.ready_applies("", "3.6.0")


def test_traditional_node_waits_then_passes_every_check():
    script = {(ADMIN, "/status"): [None, (503, {}), (200, {})], (ADMIN, "/"): [(200, {"version": "3.4.3"})],
              (STATUS, "/status/ready"): [(503, {"message": "not ready"}), (200, {"message": "ready"})],
              (PROXY, "/"): [(404, {"message": "no Route matched"})]}
    summary, log, sleeps = gate(params(check_admin=True, admin_url=ADMIN, admin_token="tok", status_url=STATUS, proxy_url=PROXY,
                                       expected_version="3.4.3"), script)
    assert summary["healthy"] and summary["checks"] == ["admin", "ready", "proxy"]
    assert summary["admin_version"] == "3.4.3" and summary["ready"] == "ready" and summary["proxy_status"] == 404
    assert summary["tries"] == {"admin": 3, "ready": 2, "proxy": 1}
    assert sleeps == [2.0, 2.0, 2.0]
    assert all(tok == "tok" for url, _p, tok in log if url == ADMIN)
    assert all(tok is None for url, _p, tok in log if url != ADMIN)


def test_admin_never_200_fails_after_retries_plus_one_tries():
    script = {(ADMIN, "/status"): [(401, {"message": "Invalid credentials. Token or User credentials required"})]}
    with pytest.raises(kh.HealthError) as err:
        gate(params(check_admin=True, admin_url=ADMIN, retries=2), script)
    assert err.value.check == "admin"
    assert "did not answer 200 after 3 tries" in err.value.msg and "status 401: Invalid credentials" in err.value.msg


def test_wrong_version_message():
    script = {(ADMIN, "/status"): [(200, {})], (ADMIN, "/"): [(200, {"version": "3.4.3"})]}
    with pytest.raises(kh.HealthError) as err:
        gate(params(check_admin=True, admin_url=ADMIN, expected_version="3.4.2"), script)
    assert err.value.check == "admin_version"
    assert err.value.msg == "n1 runs Kong 3.4.3 according to http://a:8001, expected 3.4.2."


def test_no_ready_check_before_3_3_and_proxy_probe_statuses():
    script = {(PROXY, "/echo"): [(502, "bad gateway"), (200, "ok")]}
    summary, log, _s = gate(params(status_url=STATUS, proxy_url=PROXY, proxy_probe_path="/echo", expected_version="2.8.4"), script)
    assert summary["checks"] == ["proxy"] and summary["tries"]["proxy"] == 2
    assert (STATUS, "/status/ready", None) not in log


def test_proxy_probe_with_the_wrong_status_fails():
    script = {(PROXY, "/x"): [(404, {"message": "no Route matched"})]}
    with pytest.raises(kh.HealthError) as err:
        gate(params(proxy_url=PROXY, proxy_probe_path="/x", retries=0), script)
    assert err.value.check == "proxy" and "one of [200]" in err.value.msg and "after 1 tries" in err.value.msg


def test_proxy_not_answering_fails():
    with pytest.raises(kh.HealthError) as err:
        gate(params(proxy_url=PROXY, retries=1), {(PROXY, "/"): [None]})
    assert err.value.check == "proxy" and "any HTTP answer" in err.value.msg and err.value.summary["proxy_status"] == -1


def test_data_plane_newest_row_with_expected_hash():
    script = {(CP, "/clustering/data-planes"): [(200, {"data": []}), (200, {"data": ROWS})]}
    summary, log, sleeps = gate(params(cp_admin_url=CP, cp_admin_token="cptok", dp_identity="dp-1", expected_version="3.4.3",
                                       expected_config_hash="b" * 32), script)
    assert summary["data_plane"]["last_seen"] == 200 and summary["tries"]["data_plane"] == 2
    assert {tok for _u, _p, tok in log} == {"cptok"}


@pytest.mark.parametrize("identity,expected_hash,version,msg", [
    ("dp-2", "", "3.4.3", "data plane dp-2 at the control plane: sync_status kong_version_incompatible, version 3.4.3 (expected 3.4.3)"),
    ("dp-1", "a" * 32, "3.4.3", "config_hash %s (expected %s)" % ("b" * 32, "a" * 32)),
    ("dp-1", "", "3.4.4", "version 3.4.3 (expected 3.4.4)"),
    ("dp-9", "", "", "data plane hostname=dp-9 is not listed by the control plane"),
])
def test_data_plane_failures_keep_the_old_messages(identity, expected_hash, version, msg):
    script = {(CP, "/clustering/data-planes"): [(200, {"data": ROWS})]}
    with pytest.raises(kh.HealthError) as err:
        gate(params(cp_admin_url=CP, dp_identity=identity, expected_version=version, expected_config_hash=expected_hash, retries=1), script)
    assert err.value.check == "data_plane" and msg in err.value.msg


def test_control_plane_error_status():
    with pytest.raises(kh.HealthError) as err:
        gate(params(cp_admin_url=CP, dp_identity="dp-1", retries=0), {(CP, "/clustering/data-planes"): [(401, {"message": "no"})]})
    assert err.value.msg == "the control plane cp1 answered 401 to /clustering/data-planes"


def test_nothing_configured_is_healthy_without_requests():
    summary, log, _s = gate(params(), {})
    assert summary["healthy"] and summary["checks"] == [] and log == []
