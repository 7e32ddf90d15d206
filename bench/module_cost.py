"""What one Ansible task costs on this controller: a module call against an in-controller task, with and without
pipelining, and the same work without Ansible.

    .venv/bin/python bench/module_cost.py [--calls 10]

Runs a small playbook on localhost (connection local, the venv's python, like the lab's hosts) with the bench_timer
callback: --calls iterations each of set_fact (no module), raw `true` (a shell, no Python), command `true` and stat (a
Python module each), with pipelining on and off; then the same `true` and a bare `python -c 'import
ansible.module_utils.basic'` run directly. Prints seconds per call and the load average. The playbook/script ratio of
bench/overhead.py is, to first order, (module calls per node x the module cost) / (the script's commands per node x
their cost): this measures the first factor.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402

PLAYBOOK = """
- name: Cost of one task
  hosts: localhost
  gather_facts: false
  tasks:
    - name: set_fact
      ansible.builtin.set_fact:
        bench_x: "{{ item }}"
      loop: "{{ range(calls | int) | list }}"
    - name: raw true
      ansible.builtin.raw: "true"
      loop: "{{ range(calls | int) | list }}"
      changed_when: false
    - name: command true
      ansible.builtin.command: "true"
      loop: "{{ range(calls | int) | list }}"
      changed_when: false
    - name: stat
      ansible.builtin.stat:
        path: /etc/hostname
      loop: "{{ range(calls | int) | list }}"
"""


def direct(argv, calls):
    t0 = time.monotonic()
    for _unused in range(calls):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (time.monotonic() - t0) / calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10, help="iterations of each task (default %(default)s)")
    args = ap.parse_args(argv)
    bl.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="kongops-bench-modcost-")
    pb = os.path.join(work, "pb.yml")
    with open(pb, "w") as f:
        f.write(PLAYBOOK)
    python = os.path.join(bl.VENV_BIN, "python")
    cols = {}
    load = [bl.loadavg()]
    for pipelining in ("True", "False"):
        timer_out = os.path.join(work, "timer-%s.json" % pipelining)
        env = dict(os.environ, ANSIBLE_PIPELINING=pipelining, ANSIBLE_CALLBACK_PLUGINS=os.path.join(bl.REPO, "bench", "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_timer", BENCH_TIMER_OUT=timer_out, ANSIBLE_NOCOLOR="1")
        bl.run([os.path.join(bl.VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + python,
                "-e", "calls=%d" % args.calls, pb], env=env)
        with open(timer_out) as f:
            timer = json.load(f)
        cols[pipelining] = {t["name"]: t["seconds"] / args.calls for t in timer["tasks"]}
    load.append(bl.loadavg())
    rows = [[name, bl.fmt(cols["True"].get(name), 3), bl.fmt(cols["False"].get(name), 3)] for name in ("set_fact", "raw true", "command true", "stat")]
    rows.append(["(no Ansible) /bin/true", bl.fmt(direct(["/bin/true"], args.calls), 3), ""])
    rows.append(["(no Ansible) python -c 'import ansible.module_utils.basic'",
                 bl.fmt(direct([python, "-c", "import ansible.module_utils.basic"], args.calls), 3), ""])
    print(bl.table(["task (%d calls each)" % args.calls, "s per call, pipelining on", "s per call, pipelining off"], rows))
    print("\nload average before / after: %s / %s" % tuple(load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
