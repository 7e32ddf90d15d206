"""Install hook of one lab node whose target release is broken (molecule scenario failure_dp_health).

Runs the lab's install hook (kong-install NODE_DIR VERSION) and then, while the MARKER file exists and VERSION is the
broken release, drops the kongsim fault {"unhealthy": true} into the node's prefix, so that this release starts
unhealthy on this node (Status API ready 503, proxy 503); installing any other release removes the fault. Its output
and exit status are the hook's.

    python fault_install.py KONG_INSTALL NODE_DIR PREFIX BROKEN_VERSION MARKER VERSION
"""
import json
import os
import subprocess
import sys


def main(argv):
    kong_install, node_dir, prefix, broken, marker, version = argv[1:7]
    proc = subprocess.run([kong_install, node_dir, version], check=False)
    if proc.returncode != 0:
        return proc.returncode
    fault = os.path.join(prefix, "kongsim_faults.json")
    if version == broken and os.path.exists(marker):
        with open(fault, "w") as f:
            json.dump({"unhealthy": True}, f)
    elif os.path.exists(fault):
        os.remove(fault)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
