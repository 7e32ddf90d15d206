#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_install
short_description: Install a Kong release by a custom command or per-version install paths, checked, in one call
version_added: 0.1.0
description:
  - Reads the installed version first (C(kong version)) and does nothing when it already is O(version).
  - O(method=command) runs O(install_command). O(method=path) points the symlink O(bin_link) at
    C(<release_root>/<version>/bin/kong), running O(install_command) first when that release is missing.
  - Then reads the version again and fails unless it is O(version). One call replaces the version read before, the
    install and the version read after (docs/performance.md). OS packages stay with the C(kong_node) role's package tasks.
  - Check mode reads the version and reports the plan.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  version:
    description: The release to install, e.g. V(3.4.2).
    type: str
    required: true
  method:
    description: V(command) or V(path).
    type: str
    default: command
    choices: [command, path]
  kong_bin:
    description: The node's C(kong) command (read for V(command)).
    type: path
    default: /usr/local/bin/kong
  install_command:
    description: Install command as an argv list.
    type: list
    elements: str
    default: []
  release_root:
    description: V(path), releases live in C(<release_root>/<version>/bin/kong).
    type: path
    default: /opt/kong/releases
  bin_link:
    description: V(path), the symlink made to point at the release (and read for the version).
    type: path
    default: /usr/local/bin/kong
  environment:
    description: Extra environment of the commands; every value is hidden from the module's output.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Install 3.4.2 with the site's install script
  kongops.upgrade.kong_install:
    version: 3.4.2
    method: command
    install_command: [/usr/local/sbin/kong-install, "3.4.2"]
"""

RETURN = r"""
version_before:
  description: The version installed before ('' when no working kong command).
  returned: always
  type: str
version:
  description: The version installed after the task.
  returned: always
  type: str
install_needed:
  description: Whether the version differed.
  returned: always
  type: bool
actions:
  description: What was (or in check mode would be) done, C(command) and/or C(link).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import cli_environment  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_install import InstallError, run_install  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type="str", required=True),
            method=dict(type="str", default="command", choices=["command", "path"]),
            kong_bin=dict(type="path", default="/usr/local/bin/kong"),
            install_command=dict(type="list", elements="str", default=[]),
            release_root=dict(type="path", default="/opt/kong/releases"),
            bin_link=dict(type="path", default="/usr/local/bin/kong"),
            environment=dict(type="dict", default={}, no_log=True),
        ),
        supports_check_mode=True,
    )
    # An install command may need more than KONG_* (a proxy, a PATH).
    env = cli_environment(module, kong_only=False)

    def runner(argv):
        # handle_exceptions=False: a missing kong command (a fresh node) reads as no version, not a module failure.
        return module.run_command(argv, environ_update=env, handle_exceptions=False)

    try:
        result = run_install(module.params, runner, check_mode=module.check_mode)
        result["check_mode"] = module.check_mode
    except InstallError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except (IOError, OSError) as exc:
        module.fail_json(msg="the install command %s could not run: %s" % (module.params["install_command"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
