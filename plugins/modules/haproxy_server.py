#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Read or set one HAProxy server's state (ready, drain, maint) and weight over the runtime API
version_added: 0.1.0
description:
  - Talks to the HAProxy runtime API (C(stats socket ... level admin)) of the load balancer the task runs on
    (delegate the task to the load balancer host).
  - Reads the server with C(show servers state BACKEND) and sends C(set server BACKEND/SERVER state ...) or
    C(set server BACKEND/SERVER weight N) only when the server differs, so it is idempotent.
  - With neither O(state) nor O(weight) it only reads the server (and its current sessions).
  - After a drain (or maint), can wait until the server has no current session before returning.
  - Changes made over the runtime API are not written to C(haproxy.cfg); they are lost when HAProxy restarts.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
options:
  socket:
    description:
      - Path of the runtime API unix socket, or C(host:port) for a TCP runtime API listener.
    type: str
    required: true
  backend:
    description: Name of the HAProxy backend.
    type: str
    required: true
  server:
    description: Name of the server inside O(backend).
    type: str
    required: true
  state:
    description:
      - Wanted administrative state. V(drain) stops new sessions but lets current ones finish
        (and persistent connections continue); V(maint) takes the server out completely; V(ready) puts it back.
      - Omit it to leave the state alone.
    type: str
    choices: [ready, drain, maint]
  weight:
    description:
      - Wanted absolute weight, 0 to 256. Omit it to leave the weight alone.
    type: int
  wait_drained:
    description:
      - When O(state) is V(drain) or V(maint), poll C(show stat) until the server's current sessions (C(scur)) reach 0
        or O(drain_timeout) passes. Not done in check mode.
    type: bool
    default: false
  drain_timeout:
    description: Seconds to wait for the sessions to reach 0 with O(wait_drained).
    type: float
    default: 60
  fail_on_drain_timeout:
    description: Fail when the sessions are not 0 after O(drain_timeout); otherwise only warn.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the runtime API to connect and answer each command.
    type: float
    default: 5
notes:
  - The socket needs C(level admin) for the C(set server) commands; C(level operator) suffices for reading.
  - On Debian the packaged configuration has C(stats socket /run/haproxy/admin.sock mode 660 level admin);
    the task must run as a user that can open it (root or the C(haproxy) group).
"""

EXAMPLES = r"""
- name: Drain kong-1 and wait for its sessions to end
  kongops.upgrade.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: kong_proxy
    server: kong-1
    state: drain
    wait_drained: true
    drain_timeout: 120
  delegate_to: lb1

- name: Give the new cluster's server a quarter of the default weight
  kongops.upgrade.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: kong_proxy
    server: kong-green-1
    weight: 64
  delegate_to: lb1

- name: Read a server's state
  kongops.upgrade.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: kong_proxy
    server: kong-1
  register: kong1_lb
  delegate_to: lb1
"""

RETURN = r"""
server:
  description: The server after the change (in check mode, the predicted state).
  returned: success
  type: dict
  contains:
    backend: {description: Backend name., type: str}
    server: {description: Server name., type: str}
    address: {description: Server address., type: str}
    port: {description: Server port., type: int}
    state: {description: "Administrative state: ready, drain or maint.", type: str}
    admin_state_flags: {description: Raw C(srv_admin_state) bit field., type: int}
    operational_state: {description: "stopped, starting, running or stopping (health checks).", type: str}
    weight: {description: Current (user) weight., type: int}
    initial_weight: {description: Weight from the configuration., type: int}
  sample: {backend: kong_proxy, server: kong-1, state: drain, weight: 100, operational_state: running}
before:
  description: The server as read before any change.
  returned: success
  type: dict
commands:
  description: Runtime API commands sent (or that would be sent in check mode).
  returned: success
  type: list
  elements: str
  sample: ["set server kong_proxy/kong-1 state drain"]
sessions:
  description: Current sessions of the server at the end.
  returned: success
  type: int
counters:
  description:
    - The server's totals since HAProxy started (C(show stat)), for an error budget over a time window (read it
      before and after).
    - C(requests) (responses of every class plus failed attempts), C(failed) (C(errors_5xx) + C(response_errors) +
      C(connection_errors)), C(responses), C(errors_5xx), C(response_errors) (C(eresp)), C(connection_errors) (C(econ)).
  returned: success
  type: dict
drained:
  description: Whether the sessions reached 0 within O(drain_timeout).
  returned: when O(wait_drained) applied
  type: bool
drain_wait_seconds:
  description: Seconds spent waiting for the sessions to reach 0.
  returned: when O(wait_drained) applied
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kongops.upgrade.plugins.module_utils.haproxy_runtime import (
    ADMIN_STATES,
    HAProxyRuntimeError,
    RuntimeClient,
    ensure_server,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", required=True),
            backend=dict(type="str", required=True),
            server=dict(type="str", required=True),
            state=dict(type="str", choices=list(ADMIN_STATES)),
            weight=dict(type="int"),
            wait_drained=dict(type="bool", default=False),
            drain_timeout=dict(type="float", default=60),
            fail_on_drain_timeout=dict(type="bool", default=False),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["weight"] is not None and not 0 <= p["weight"] <= 256:
        module.fail_json(msg="weight must be between 0 and 256, got %d" % p["weight"])
    client = RuntimeClient(p["socket"], timeout=p["timeout"])
    try:
        result = ensure_server(client, p["backend"], p["server"], state=p["state"], weight=p["weight"],
                               check_mode=module.check_mode, wait_drained=p["wait_drained"], drain_timeout=p["drain_timeout"])
    except HAProxyRuntimeError as exc:
        module.fail_json(msg="%s (socket %s, server %s/%s)" % (exc, p["socket"], p["backend"], p["server"]))
    result["diff"] = {
        "before": {"state": result["before"]["state"], "weight": result["before"]["weight"]},
        "after": {"state": result["server"]["state"], "weight": result["server"]["weight"]},
    }
    if result.get("drained") is False:
        msg = "%s/%s still has %d session(s) after %s seconds of drain" % (p["backend"], p["server"], result["sessions"], p["drain_timeout"])
        if p["fail_on_drain_timeout"]:
            module.fail_json(msg=msg, **result)
        module.warn(msg)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
