#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kong_facts
short_description: Read a Kong node's version, role, readiness, configuration hash, entity counts and data planes
version_added: 0.1.0
description:
  - Reads the Admin API (C(GET /), C(/status), entity collections, C(/clustering/data-planes) on a control plane)
    and, if given, the Status API (C(/status/ready) from Kong 3.3).
  - Without an Admin API (or when it does not answer), reports what O(kong_bin) and O(prefix) tell; the
    version from C(kong version), and whether the node runs from C(kong health) and the prefix's C(pids/nginx.pid).
  - With only O(status_url) (a data plane usually has no Admin API), readiness and the configuration hash come
    from the Status API (C(source=status_api)), merged with the CLI facts when O(kong_bin) or O(prefix) is given.
  - For health gates, the preflight and the upgrade report. Never changes anything.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.info_module
  - kongops.upgrade.kong_api
options:
  count_entities:
    description:
      - Count services, routes, plugins, consumers, upstreams, certificates, SNIs and CA certificates.
    type: bool
    default: true
  kong_bin:
    description:
      - The node's C(kong) command, used when there is no O(admin_url) or it does not answer.
    type: path
  prefix:
    description:
      - The node's prefix, for C(kong health -p) and C(pids/nginx.pid) when the Admin API is not used.
    type: path
"""

EXAMPLES = r"""
- name: Facts of a node through its Admin and Status APIs
  kongops.upgrade.kong_facts:
    admin_url: http://127.0.0.1:8001
    status_url: http://127.0.0.1:8007
  register: kong_node

- name: Wait until a control plane sees every data plane in sync
  kongops.upgrade.kong_facts:
    admin_url: https://cp.example.internal:8444
    admin_token: "{{ vault_kong_admin_token }}"
    ca_path: /etc/kong/ca.pem
    count_entities: false
  register: kong_cp
  until: kong_cp.data_planes | rejectattr('sync_status', 'equalto', 'normal') | list | length == 0
  retries: 30
  delay: 5

- name: A node without an Admin API
  kongops.upgrade.kong_facts:
    kong_bin: /usr/local/bin/kong
    prefix: /usr/local/kong
"""

RETURN = r"""
source:
  description: V(admin_api), V(status_api) or V(cli).
  returned: always
  type: str
version:
  description: Kong version, the plain release number (an Enterprise Admin API's C(-enterprise-edition) suffix removed).
  returned: always
  type: str
  sample: 3.4.2
version_string:
  description: The version exactly as the Admin API's C(GET /) reports it.
  returned: when the Admin API answered
  type: str
  sample: 3.4.3.3-enterprise-edition
edition:
  description: V(oss) or V(enterprise).
  returned: always
  type: str
node_id:
  description: Node id.
  returned: when the Admin API answered
  type: str
role:
  description: V(traditional), V(control_plane) or V(data_plane).
  returned: when the Admin API answered
  type: str
database:
  description: V(postgres) or V(off).
  returned: when the Admin API answered
  type: str
ready:
  description: Readiness (Status API C(/status/ready) on 3.3+, otherwise whether C(/status) answers with a reachable database).
  returned: always
  type: bool
ready_reason:
  description: Kong's reason, such as V(ready) or V(no configuration available (empty configuration present)).
  returned: always
  type: str
configuration_hash:
  description: Hash of the loaded configuration (DB-less nodes and data planes).
  returned: when the node has one
  type: str
entities:
  description: Number of each entity kind (null where the node has no such collection).
  returned: when O(count_entities=true) and the Admin API answered
  type: dict
data_planes:
  description: On a control plane, its data planes with id, hostname, ip, version, sync_status, config_hash, last_seen.
  returned: when the node is a control plane
  type: list
  elements: dict
hostname:
  description: The node's host name - what its Admin API reports, else the host the module ran on (what Kong reports
    as a data plane's C(hostname) in the control plane's C(/clustering/data-planes)).
  returned: always
  type: str
running:
  description: Whether C(kong health) says the node runs (CLI fallback).
  returned: when the CLI fallback is used
  type: bool
admin_error:
  description: Why the Admin API was not used.
  returned: when the Admin API did not answer and the CLI fallback was used
  type: str
"""

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_admin import (
    KongApiClient,
    KongApiError,
    KongApiUnreachable,
    admin_argument_spec,
    client_kwargs,
    gather_facts,
    prefix_facts,
    status_facts,
)
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import KongCli, KongCliError


def cli_facts(module, kong_bin, prefix):
    facts = {"source": "cli", "ready": False, "ready_reason": None, "hostname": socket.gethostname()}
    facts.update(prefix_facts(prefix))
    if kong_bin:
        cli = KongCli(module.run_command, kong_bin, prefix=prefix)
        try:
            v = cli.version()
        except KongCliError as e:
            module.fail_json(msg=e.message, **facts)
        facts.update({"version": v["version"], "edition": v["edition"]})
        if prefix:
            rc, out, err = cli.run(["health"], with_conf=False)
            facts["running"] = rc == 0
            facts["ready"] = rc == 0
            facts["ready_reason"] = (out if rc == 0 else err).strip().splitlines()[-1] if (out or err).strip() else None
    else:
        facts["running"] = facts.get("pid_running")
        facts["ready"] = bool(facts.get("pid_running"))
        facts["ready_reason"] = "process %s running" % facts["pid"] if facts.get("pid_running") else "no running process in the prefix"
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            count_entities=dict(type="bool", default=True),
            kong_bin=dict(type="path"),
            prefix=dict(type="path"),
            **admin_argument_spec()
        ),
        required_one_of=[["admin_url", "status_url", "kong_bin", "prefix"]],
        required_together=[["client_cert", "client_key"]],
        supports_check_mode=True,
    )
    p = module.params
    tls = client_kwargs(p)
    if p["admin_url"]:
        admin = KongApiClient(p["admin_url"], token=p["admin_token"], **tls)
        status_api = KongApiClient(p["status_url"], **tls) if p["status_url"] else None
        try:
            facts = gather_facts(admin, status_api, count_entities=p["count_entities"])
            facts["hostname"] = facts.get("hostname") or socket.gethostname()
            module.exit_json(changed=False, **facts)
        except KongApiUnreachable as e:
            if not (p["kong_bin"] or p["prefix"]):
                module.fail_json(msg=e.message, changed=False)
            facts = cli_facts(module, p["kong_bin"], p["prefix"])
            facts["admin_error"] = e.message
            module.exit_json(changed=False, **facts)
        except KongApiError as e:
            module.fail_json(msg=e.message, status=e.status, body=e.body, changed=False)
    facts = {"hostname": socket.gethostname()}
    if p["kong_bin"] or p["prefix"]:
        facts.update(cli_facts(module, p["kong_bin"], p["prefix"]))
    if p["status_url"]:
        try:
            sfacts = status_facts(KongApiClient(p["status_url"], **tls))
        except KongApiError as e:
            if not (p["kong_bin"] or p["prefix"]):
                module.fail_json(msg=e.message, changed=False)
            facts["status_error"] = e.message
        else:
            running = facts.get("running")
            facts.update(sfacts)
            if running is not None:
                facts["running"] = running
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
