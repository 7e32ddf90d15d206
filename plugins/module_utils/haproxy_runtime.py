# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy runtime API client and pure helpers (no Ansible imports).

The runtime API (``stats socket ... level admin``) takes one command per
connection in its default non-interactive mode: send ``<command>\\n``, read
until the server closes the socket.  Commands used here (HAProxy 1.8 to 3.x):

* ``show servers state [<backend>]``: version line ``1``, then a ``#`` header
  naming the columns, then one space-separated line per server.
* ``show stat <backend> 4 -1``: CSV of the backend's servers (``scur`` is the
  number of current sessions).
* ``set server <backend>/<server> state ready|drain|maint`` and
  ``set server <backend>/<server> weight <n>``: print nothing on success and a
  message (``No such server.``, ``No such backend.``, ...) on failure.

``srv_admin_state`` is a bit field (``include/haproxy/server-t.h``):
0x01 forced maintenance, 0x02 inherited maintenance, 0x04 maintenance from the
configuration (``disabled``; stays set after ``state ready``, so it does not by
itself mean the server is in maintenance), 0x08 forced drain, 0x10 inherited
drain, 0x20 maintenance from DNS resolution, 0x40 maintenance from a hostname
change.  HAProxy's own ``SRV_ADMF_MAINT`` mask is 0x63 and ``SRV_ADMF_DRAIN``
0x18; the same masks are used here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

ADMF_FMAINT = 0x01
ADMF_IMAINT = 0x02
ADMF_CMAINT = 0x04
ADMF_FDRAIN = 0x08
ADMF_IDRAIN = 0x10
ADMF_RMAINT = 0x20
ADMF_HMAINT = 0x40
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT | ADMF_HMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN

OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
ADMIN_STATES = ("ready", "drain", "maint")
MAX_WEIGHT = 256

# Columns of ``show servers state`` that are integers (the rest stay strings).
_INT_COLUMNS = frozenset((
    "be_id", "srv_id", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_iweight",
    "srv_time_since_last_change", "srv_check_status", "srv_check_result", "srv_check_health",
    "srv_check_state", "srv_agent_state", "bk_f_forced_id", "srv_f_forced_id", "srv_port",
    "srv_use_ssl", "srv_check_port", "srv_agent_port",
))


class HAProxyRuntimeError(Exception):
    """Any failure talking to the runtime API or a command it refused."""


class RuntimeClient:
    """One command per connection over a unix socket (a path) or TCP (``host:port``)."""

    def __init__(self, address, timeout=5.0):
        self.address = address
        self.timeout = float(timeout)

    def _connect(self):
        if self.address.startswith("/") or self.address.startswith("unix@"):
            path = self.address[5:] if self.address.startswith("unix@") else self.address
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = path
        else:
            host, sep, port = self.address.rpartition(":")
            if not sep or not port.isdigit():
                raise HAProxyRuntimeError("HAProxy runtime API address %r is neither a socket path nor host:port" % self.address)
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except (OSError, socket.timeout) as exc:
            sock.close()
            raise HAProxyRuntimeError("cannot connect to the HAProxy runtime API at %s: %s" % (self.address, exc))
        return sock

    def execute(self, command):
        """Send one command and return the whole answer as text."""
        if "\n" in command or ";" in command:
            raise HAProxyRuntimeError("refusing a runtime API command containing a newline or ';': %r" % command)
        sock = self._connect()
        chunks = []
        try:
            sock.sendall((command + "\n").encode("utf-8"))
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (OSError, socket.timeout) as exc:
            raise HAProxyRuntimeError("HAProxy runtime API at %s did not answer %r: %s" % (self.address, command, exc))
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", "replace")


def parse_servers_state(text):
    """Parse ``show servers state`` output into a list of dicts keyed by the header's column names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise HAProxyRuntimeError("empty answer to 'show servers state'")
    if not lines[0].strip().isdigit():
        # An error message such as "Can't find backend." instead of the format version.
        raise HAProxyRuntimeError("unexpected answer to 'show servers state': %s" % lines[0].strip())
    if len(lines) < 2 or not lines[1].startswith("#"):
        raise HAProxyRuntimeError("'show servers state' answer has no column header")
    columns = lines[1].lstrip("#").split()
    servers = []
    for line in lines[2:]:
        fields = line.split()
        row = {}
        for name, value in zip(columns, fields):
            if name in _INT_COLUMNS:
                try:
                    value = int(value)
                except ValueError:
                    pass
            row[name] = value
        servers.append(row)
    return servers


def parse_stat_csv(text):
    """Parse ``show stat`` CSV output into a list of dicts (numbers stay strings; empty fields are '')."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise HAProxyRuntimeError("unexpected answer to 'show stat': %s" % (lines[0].strip() if lines else "(empty)"))
    columns = lines[0][2:].split(",")
    return [dict(zip(columns, line.split(","))) for line in lines[1:]]


def _count(row, field):
    try:
        return int(row.get(field) or 0)
    except ValueError:
        return 0


def counters(row):
    """A server's totals since HAProxy started, from its ``show stat`` row: ``responses`` (HTTP responses of every
    class), ``errors_5xx``, ``response_errors`` (``eresp``: aborted or invalid responses), ``connection_errors``
    (``econ``), and ``requests`` / ``failed`` (what an error budget compares: every attempt, and the failed ones)."""
    out = dict(responses=sum(_count(row, "hrsp_%s" % c) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")),
               errors_5xx=_count(row, "hrsp_5xx"), response_errors=_count(row, "eresp"), connection_errors=_count(row, "econ"))
    out["failed"] = out["errors_5xx"] + out["response_errors"] + out["connection_errors"]
    out["requests"] = out["responses"] + out["response_errors"] + out["connection_errors"]
    return out


def admin_state(flags):
    """The operator-visible state of a server from its ``srv_admin_state`` bit field."""
    if flags & ADMF_MAINT:
        return "maint"
    if flags & ADMF_DRAIN:
        return "drain"
    return "ready"


def describe_server(row):
    """A compact, stable description of one parsed ``show servers state`` row."""
    return {
        "backend": row["be_name"],
        "server": row["srv_name"],
        "address": row.get("srv_addr"),
        "port": row.get("srv_port"),
        "state": admin_state(row["srv_admin_state"]),
        "admin_state_flags": row["srv_admin_state"],
        "operational_state": OP_STATES.get(row["srv_op_state"], str(row["srv_op_state"])),
        "weight": row["srv_uweight"],
        "initial_weight": row["srv_iweight"],
    }


def plan_commands(current, backend, server, state=None, weight=None):
    """The runtime API commands that bring ``current`` (a ``describe_server`` dict) to the wanted state/weight.

    An empty list means nothing to change.  Weight is applied before a
    ``ready`` so a server comes back with its new weight, after the others.
    """
    if state is not None and state not in ADMIN_STATES:
        raise HAProxyRuntimeError("unknown server state %r (expected one of %s)" % (state, ", ".join(ADMIN_STATES)))
    if weight is not None and not 0 <= int(weight) <= MAX_WEIGHT:
        raise HAProxyRuntimeError("weight %s out of range 0..%d" % (weight, MAX_WEIGHT))
    target = "%s/%s" % (backend, server)
    weight_cmds = []
    if weight is not None and int(weight) != current["weight"]:
        weight_cmds.append("set server %s weight %d" % (target, int(weight)))
    state_cmds = []
    if state is not None and state != current["state"]:
        state_cmds.append("set server %s state %s" % (target, state))
    return weight_cmds + state_cmds


class HAProxyServer:
    """Read and change one server through a ``RuntimeClient`` (or anything with ``execute``)."""

    def __init__(self, client, backend, server):
        self.client = client
        self.backend = backend
        self.server = server

    def read(self):
        answer = self.client.execute("show servers state %s" % self.backend)
        for row in parse_servers_state(answer):
            if row.get("srv_name") == self.server:
                return describe_server(row)
        raise HAProxyRuntimeError("HAProxy backend %r has no server %r" % (self.backend, self.server))

    def stat_row(self):
        """The server's row of ``show stat`` (its counters)."""
        answer = self.client.execute("show stat %s 4 -1" % self.backend)
        for row in parse_stat_csv(answer):
            if row.get("svname") == self.server:
                return row
        raise HAProxyRuntimeError("'show stat' has no server %s/%s" % (self.backend, self.server))

    def sessions(self, row=None):
        """Current sessions (``scur``) of the server."""
        row = row or self.stat_row()
        try:
            return int(row.get("scur") or 0)
        except ValueError:
            raise HAProxyRuntimeError("unreadable scur %r for %s/%s" % (row.get("scur"), self.backend, self.server))

    def run(self, command):
        answer = self.client.execute(command).strip()
        if answer:
            raise HAProxyRuntimeError("HAProxy refused %r: %s" % (command, answer))

    def wait_sessions_drained(self, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
        """Poll until the server has no current session; return (drained, sessions, seconds waited)."""
        start = clock()
        while True:
            current = self.sessions()
            waited = clock() - start
            if current == 0:
                return True, 0, waited
            if waited >= timeout:
                return False, current, waited
            sleep(min(interval, max(0.0, timeout - waited)))


def ensure_server(client, backend, server, state=None, weight=None, check_mode=False,
                  wait_drained=False, drain_timeout=60.0, sleep=time.sleep, clock=time.monotonic):
    """Bring one server to ``state``/``weight``; return a result dict for the module.

    Nothing is sent but ``show`` commands in check mode.  With ``wait_drained``
    and a wanted state of ``drain`` or ``maint``, waits until the server has no
    current session (or ``drain_timeout`` seconds), also when nothing changed.
    """
    srv = HAProxyServer(client, backend, server)
    before = srv.read()
    commands = plan_commands(before, backend, server, state=state, weight=weight)
    result = {"changed": bool(commands), "commands": commands, "before": before, "server": before}
    if commands and check_mode:
        predicted = dict(before)
        if state is not None:
            predicted["state"] = state
        if weight is not None:
            predicted["weight"] = int(weight)
        result["server"] = predicted
    elif commands:
        for command in commands:
            srv.run(command)
        result["server"] = srv.read()
    if wait_drained and state in ("drain", "maint") and not check_mode:
        drained, current, waited = srv.wait_sessions_drained(drain_timeout, sleep=sleep, clock=clock)
        result["drained"] = drained
        result["sessions"] = current
        result["drain_wait_seconds"] = round(waited, 3)
    row = srv.stat_row()
    if "sessions" not in result:
        result["sessions"] = srv.sessions(row)
    result["counters"] = counters(row)
    return result
