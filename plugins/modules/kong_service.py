#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_service
short_description: Start, stop, quit (graceful), restart or read a Kong node's service in one call
version_added: 0.1.0
description:
  - Reads whether Kong runs first, so V(start), V(stop) and V(quit) act only when needed; V(restart) always acts
    (V(start) when Kong was not running). One module call replaces a status read and an action task.
  - O(manager=systemd) reads C(systemctl is-active) and runs C(systemctl start|stop|restart); V(quit) is
    C(systemctl stop), which is Kong's graceful quit with the packaged units (ExecStop sends QUIT).
  - O(manager=kong_cli) reads C(kong health -p) and runs C(kong start -c -p), C(kong quit -p -t), C(kong stop -p),
    C(kong restart -c -p).
  - O(manager=command) runs the argv lists of O(commands) (C(status) required, exit 0 when running); V(quit) falls back
    to C(stop), V(restart) to C(stop) then C(start).
  - Check mode reads the state and reports the steps it would run.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.kong_cli
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  action:
    description: What to do.
    type: str
    default: status
    choices: [start, stop, quit, restart, status]
  manager:
    description: How Kong is controlled.
    type: str
    default: systemd
    choices: [systemd, kong_cli, command]
  name:
    description: The systemd unit.
    type: str
    default: kong
  conf:
    description: The node's kong.conf (V(kong_cli)).
    type: path
    default: /etc/kong/kong.conf
    aliases: [conf_path]
  prefix:
    description:
      - The node's prefix. V(kong_cli) runs Kong with it; every manager reads C(<prefix>/pids/nginx.pid) to learn whether Kong
        runs on the node whatever the manager says (a Kong started outside systemd is quit with C(kong quit -p)), and after a
        stop or a quit the call fails unless that process is gone within O(quit_timeout) + 5 seconds.
    type: path
    default: /usr/local/kong
  quit_timeout:
    description: Seconds C(kong quit -t) lets in-flight requests finish.
    type: int
    default: 10
  commands:
    description: V(command) manager, an argv list per action (C(status) required; C(start), C(stop), optional C(quit) and C(restart)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Stop Kong gracefully
  kongops.upgrade.kong_service:
    action: quit
    manager: kong_cli
    kong_bin: /usr/local/bin/kong
    prefix: /usr/local/kong
"""

RETURN = r"""
was_running:
  description: Whether Kong ran before the task.
  returned: always
  type: bool
running:
  description: Whether Kong runs after the task (as the action leaves it).
  returned: always
  type: bool
steps:
  description: The steps run (or that would run in check mode), e.g. C([quit]) or C([stop, start]); C(outside_quit) is the
    C(kong quit -p) of a Kong that runs outside systemd.
  returned: always
  type: list
  elements: str
pid_before:
  description: The live process of C(<prefix>/pids/nginx.pid) before the task, or null.
  returned: always
  type: int
outside_manager:
  description: Whether Kong ran on the node while systemd said its unit was not active.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import cli_argument_spec, cli_environment  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_service import ServiceError, run_service  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", default="status", choices=["start", "stop", "quit", "restart", "status"]),
            manager=dict(type="str", default="systemd", choices=["systemd", "kong_cli", "command"]),
            name=dict(type="str", default="kong"),
            quit_timeout=dict(type="int", default=10),
            commands=dict(type="dict", default={}),
            # A service manager needs kong.conf and the prefix (it reads <prefix>/pids/nginx.pid): Kong's defaults.
            **cli_argument_spec(conf="/etc/kong/kong.conf", prefix="/usr/local/kong")
        ),
        supports_check_mode=True,
    )
    env = cli_environment(module)

    def runner(argv):
        return module.run_command([str(a) for a in argv], environ_update=env)

    try:
        result = run_service(module.params, runner, check_mode=module.check_mode)
    except ServiceError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
