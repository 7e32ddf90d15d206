#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_health
short_description: Wait until a Kong node is healthy (Admin API, Status API, proxy, data plane sync) in one call
version_added: 0.1.0
description:
  - Polls inside one module call, each check with its own budget of O(retries) + 1 tries O(delay) seconds apart (the
    same as a task's C(until)/C(retries)/C(delay)), in this order; the first check that does not pass fails the module
    with a message saying which and why.
  - Admin API (O(check_admin) and O(admin_url)) C(/status) answers 200, then C(GET /) reports O(expected_version).
  - Status API C(/status/ready) answers 200, when O(status_url) is set and O(expected_version) is empty or 3.3 or later
    (Kong has no C(/status/ready) before 3.3).
  - The proxy (O(proxy_url)) answers any HTTP status, or with O(proxy_probe_path) one of O(proxy_probe_status).
  - Data planes (O(cp_admin_url) and O(dp_identity)) the control plane's C(/clustering/data-planes) (every page) lists the
    node's newest row (by C(last_seen)) with C(sync_status) normal, O(expected_version) and, when given,
    O(expected_config_hash). Run that check on the control plane host (C(delegate_to)) when its Admin API listens only
    there.
  - Only GET requests, so it runs the same in check mode. Replaces four to five C(uri) tasks with C(until) loops
    (docs/performance.md).
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.info_module
  - kongops.upgrade.kong_api
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  name:
    description: The node's name in messages (the inventory host).
    type: str
    default: ''
  check_admin:
    description: Check the Admin API (C(/status), then the version from C(GET /)).
    type: bool
    default: false
  proxy_url:
    description: The node's proxy base URL; empty skips the proxy check.
    type: str
    default: ''
  proxy_probe_path:
    description: Path to request on the proxy; its status must then be in O(proxy_probe_status). Empty accepts any HTTP answer to C(/).
    type: str
    default: ''
  proxy_probe_status:
    description: Accepted statuses for O(proxy_probe_path).
    type: list
    elements: int
    default: [200]
  expected_version:
    description: The version the Admin API (or the control plane's row) must report; C(3.4.2) matches C(3.4.2) and
      C(3.4.2-enterprise-edition), not C(3.4.21). Empty skips the version checks.
    type: str
    default: ''
  cp_admin_url:
    description: The control plane's Admin API base URL, for the data plane check; empty skips it.
    type: str
    default: ''
  cp_admin_token:
    description: Token for the control plane's Admin API.
    type: str
    default: ''
  cp_host:
    description: The control plane's name in messages.
    type: str
    default: ''
  dp_identity_field:
    description: Field of C(/clustering/data-planes) rows that identifies the data plane.
    type: str
    default: hostname
    choices: [id, hostname, ip]
  dp_identity:
    description: The data plane's value of O(dp_identity_field); empty skips the data plane check.
    type: str
    default: ''
  expected_config_hash:
    description: The C(config_hash) the data plane must report; empty skips that comparison.
    type: str
    default: ''
  retries:
    description: Retries of each check (tries = retries + 1).
    type: int
    default: 30
  delay:
    description: Seconds between tries.
    type: float
    default: 2
seealso:
  - module: kongops.upgrade.kong_facts
"""

EXAMPLES = r"""
- name: Wait until the node serves
  kongops.upgrade.kong_health:
    name: "{{ inventory_hostname }}"
    check_admin: true
    admin_url: http://127.0.0.1:8001
    status_url: http://127.0.0.1:8007
    proxy_url: http://127.0.0.1:8000
    expected_version: 3.4.2

- name: Wait until the control plane lists this data plane in sync with the expected configuration
  kongops.upgrade.kong_health:
    cp_admin_url: http://127.0.0.1:8001
    dp_identity: "{{ ansible_facts['nodename'] }}"
    expected_version: 3.4.2
    expected_config_hash: "{{ expected_hash }}"
  delegate_to: cp1
"""

RETURN = r"""
healthy:
  description: Every configured check passed.
  returned: success
  type: bool
admin_version:
  description: The version C(GET /) reported; empty when the Admin API was not checked.
  returned: always
  type: str
ready:
  description: The message of C(/status/ready); empty when not checked.
  returned: always
  type: str
proxy_status:
  description: The proxy's last HTTP status (-1 when it did not answer or was not checked).
  returned: always
  type: int
data_plane:
  description: The data plane's newest row at the control plane; empty when not checked or not listed.
  returned: always
  type: dict
checks:
  description: The checks that passed, in order (admin, ready, proxy, data_plane).
  returned: always
  type: list
  elements: str
tries:
  description: Tries used per check.
  returned: always
  type: dict
hostname:
  description: The host name of the host the module ran on (what Kong reports as a data plane's C(hostname) in the
    control plane's C(/clustering/data-planes)).
  returned: always
  type: str
failed_check:
  description: The check that failed.
  returned: failure
  type: str
"""

import socket  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_admin import admin_argument_spec  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_health import HealthError, run_gate  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default=""),
            check_admin=dict(type="bool", default=False),
            proxy_url=dict(type="str", default=""),
            proxy_probe_path=dict(type="str", default=""),
            proxy_probe_status=dict(type="list", elements="int", default=[200]),
            expected_version=dict(type="str", default=""),
            cp_admin_url=dict(type="str", default=""),
            cp_admin_token=dict(type="str", default="", no_log=True),
            cp_host=dict(type="str", default=""),
            dp_identity_field=dict(type="str", default="hostname", choices=["id", "hostname", "ip"]),
            dp_identity=dict(type="str", default=""),
            expected_config_hash=dict(type="str", default=""),
            retries=dict(type="int", default=30),
            delay=dict(type="float", default=2),
            **admin_argument_spec()
        ),
        supports_check_mode=True,
    )
    try:
        summary = run_gate(module.params)
    except HealthError as exc:
        result = dict(exc.summary)
        result.pop("healthy", None)
        module.fail_json(msg=exc.msg, failed_check=exc.check, hostname=socket.gethostname(), **result)
    module.exit_json(changed=False, hostname=socket.gethostname(), **summary)


if __name__ == "__main__":
    main()
