"""Helpers of the container-host suite: running commands, a lab handle, the play recap."""
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[3]
HOSTCTL = ROOT / "tests" / "hosts" / "hostctl"
BIN = pathlib.Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "kongsim"))


def run(argv, timeout=900, env=None, check=True):
    proc = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, env=env, check=False)
    if check:
        assert proc.returncode == 0, "%s failed (exit %d)\nstderr:\n%s\nstdout (tail):\n%s" % (
            " ".join(str(a) for a in argv), proc.returncode, proc.stderr[-4000:], proc.stdout[-6000:])
    return proc


class HostLabHandle(object):
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.inventory = self.dir / "inventory.yml"
        self.subnet = None

    def ctl(self, *args, check=True, timeout=900):
        return run([HOSTCTL, "--dir", self.dir] + list(args), timeout=timeout, check=check)

    @property
    def state(self):
        return json.loads((self.dir / "lab.json").read_text())

    def status(self):
        return {r["host"]: r for r in json.loads(self.ctl("status", "--json").stdout)["hosts"]}

    def load_start(self, rate=20):
        self.ctl("load", "start", "--rate", str(rate))

    def load_stop(self):
        return json.loads(self.ctl("load", "stop", "--json").stdout)

    def _lab(self):
        from hosts.hostlab import HostLab
        return HostLab(str(self.dir))

    def ssh(self, host, command, check=True):
        return self._lab().ssh(host, command, check=check)

    def lb_urls(self):
        return self._lab().lb_urls()

    def playbook(self, playbook, *extra, check=True, conf_overrides=None, inventory=None):
        """ansible-playbook as an operator runs it: the lab's inventory (or another), extra vars in a 0600 file (never
        argv); conf_overrides: kong_upgrade_y_conf_overrides."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        varsfile = self.dir / ("vars-%d.json" % time.monotonic_ns())
        fd = os.open(str(varsfile), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            pairs = [e.split("=", 1) for e in extra]
            doc = dict(kong_upgrade_report_dir=str(self.dir / "reports"),
                       **{k: int(v) if v.isdigit() else v for k, v in pairs})
            if conf_overrides:
                doc["kong_upgrade_y_conf_overrides"] = conf_overrides
            json.dump(doc, f)
        return run([BIN / "ansible-playbook", ROOT / "playbooks" / playbook, "-i", inventory or self.inventory, "-e", "@%s" % varsfile],
                   env=env, timeout=1800, check=check)

    def adhoc(self, host, module, args):
        """One module on one host, as ``ansible HOST -m MODULE -a ARGS`` with the lab's inventory; JSON output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        return run([BIN / "ansible", host, "-i", self.inventory, "-m", module, "-a", args], env=env, timeout=300)

    def reports(self):
        return [json.loads(p.read_text()) for p in sorted((self.dir / "reports").glob("report-*.json"), key=lambda p: p.stat().st_mtime)]


def recap(stdout):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP of an ansible-playbook run."""
    out = {}
    seen = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            seen, out = True, {}
            continue
        if seen and ":" in line and "=" in line:
            host, _sep, rest = line.partition(":")
            out[host.strip()] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
    return out
