#!/usr/bin/env python
"""Dynamic inventory for the molecule scenarios: the lab's own inventory once `labctl up` has written it.

The lab of scenario NAME lives in /tmp/kongops-molecule-NAME (MOLECULE_SCENARIO_NAME, which molecule sets for every
playbook it runs). Before the lab exists (create, or destroy of a lab that is gone) the inventory is only localhost.
The lab's inventory is read with `ansible-inventory` so that its group_vars (the 0600 secrets file) come along;
nothing is written anywhere.
"""
import json
import os
import subprocess
import sys


def lab_dir():
    name = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
    return os.environ.get("KONGOPS_MOLECULE_LAB_DIR") or "/tmp/kongops-molecule-%s" % name


def main():
    if "--host" in sys.argv:
        print("{}")
        return 0
    inventory = os.path.join(lab_dir(), "inventory.yml")
    if not os.path.isfile(inventory):
        print(json.dumps({"all": {"hosts": ["localhost"]},
                          "_meta": {"hostvars": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        return 0
    tool = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    if not os.path.exists(tool):
        tool = "ansible-inventory"
    out = subprocess.run([tool, "-i", inventory, "--list"], check=True, stdout=subprocess.PIPE)
    sys.stdout.write(out.stdout.decode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
