"""Write configuration through the Admin API during the upgrade window (molecule scenario failure_config_write).

Waits until the cluster's state file records the phase given (the upgrade took its backup and has not stopped the
nodes yet), then creates a consumer through the Admin API, like an operator or a decK sync that ignores the write
freeze. Prints one JSON line: what it saw and did. Exits 0 when it wrote, 1 on timeout or error.

    python write_during_window.py STATE_FILE PHASE ADMIN_URL USERNAME [TIMEOUT_S]
"""
import json
import sys
import time
import urllib.error
import urllib.request


def main(argv):
    state_file, phase, admin_url, username = argv[1:5]
    timeout = float(argv[5]) if len(argv) > 5 else 600.0
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        try:
            with open(state_file) as f:
                seen = json.load(f).get("phase")
        except (OSError, ValueError):
            seen = None
        if seen == phase:
            req = urllib.request.Request(admin_url.rstrip("/") + "/consumers", data=json.dumps({"username": username}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    status = resp.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                print(json.dumps({"phase": seen, "written": False, "error": str(e)}))
                return 1
            print(json.dumps({"phase": seen, "written": status == 201, "status": status, "at": time.time()}))
            return 0 if status == 201 else 1
        time.sleep(0.05)
    print(json.dumps({"phase": seen, "written": False, "error": "timeout waiting for phase %s" % phase}))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
