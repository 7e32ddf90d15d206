# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a given ``kong`` binary and parsing what it prints.

Plain Python (no AnsibleModule): the caller passes a ``run_command`` callable
with the signature of ``AnsibleModule.run_command`` (``args`` list,
``environ_update`` dict) so everything here can be unit tested with a fake.

Parsing follows /work/shared/kong/contract.md section 1 (``migrations list``
text and exit codes, ``migrations status`` JSON) and section 5 (``kong version``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# Exit codes of ``kong migrations list`` (contract.md section 1).
LIST_RC_UP_TO_DATE = 0
LIST_RC_NEEDS_BOOTSTRAP = 3
LIST_RC_PENDING = 4
LIST_RC_NEW = 5

NEEDS_BOOTSTRAP_MARKER = "Database needs bootstrapping or is older than Kong 1.0."
LOCK_ABORTED_MARKER = "aborted: another node is performing database changes"
LOCK_TIMEOUT_MARKER = "[PostgreSQL error] timeout"
PENDING_REFUSED_MARKER = "Database has pending migrations; run 'kong migrations finish'"

# Headers of the blocks printed by ``list`` (and the key each one fills).
_LIST_BLOCKS = (
    ("Executed migrations:", "executed"),
    ("Pending migrations:", "pending"),
    ("New migrations available:", "new"),
    ("Missing migrations:", "missing"),
)

# Keys of the ``status`` JSON and of our own state dict.
_STATUS_KEYS = (
    ("executed_migrations", "executed"),
    ("pending_migrations", "pending"),
    ("new_migrations", "new"),
    ("missing_migrations", "missing"),
)

STATE_KINDS = ("executed", "pending", "new", "missing")

_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?")
_LOG_LINE_RE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[\w+\]")
_LIST_LINE_RE = re.compile(r"^\s*([A-Za-z0-9_.\-]+): (.+)$")


class KongCliError(Exception):
    """A ``kong`` command failed in a way the caller cannot interpret as a state."""

    def __init__(self, message, rc=None, stdout="", stderr="", cmd=None):
        super(KongCliError, self).__init__(message)
        self.message = message
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd

    def as_dict(self):
        return {"msg": self.message, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr, "cmd": self.cmd}


def empty_state(needs_bootstrap=False):
    """The normalised migration state: ``{needs_bootstrap, executed, pending, new, missing}``.

    Each of executed/pending/new/missing maps a subsystem (``core`` or a plugin)
    to the ordered list of migration names.
    """
    st = {"needs_bootstrap": bool(needs_bootstrap)}
    for kind in STATE_KINDS:
        st[kind] = {}
    return st


def count(migrations):
    """Number of migrations in a ``{subsystem: [names]}`` dict."""
    return sum(len(v) for v in (migrations or {}).values())


def kong_error_message(stderr):
    """The message of Kong's ``Error: <msg>`` block (without the ``--v`` hint), or ``None``."""
    text = stderr or ""
    idx = text.find("Error: ")
    if idx < 0:
        return None
    msg = text[idx + len("Error: "):]
    hint = msg.find("Run with --v (verbose)")
    if hint >= 0:
        msg = msg[:hint]
    return msg.strip() or None


# --------------------------------------------------------------------------
# kong version
# --------------------------------------------------------------------------
def parse_version(stdout):
    """Parse ``kong version`` (or ``version -a``) output.

    ``3.4.0`` -> OSS; ``Kong Enterprise 3.9.0.0`` -> Enterprise; ``Kong: 3.4.0``
    (first line of ``-a``) -> OSS.  A four-part number is Enterprise too (only
    Enterprise releases have one).  Returns ``{version, edition, major, minor,
    patch, build}`` or raises ``ValueError``.
    """
    text = (stdout or "").strip()
    for line in text.splitlines():
        line = line.strip()
        if not line or _LOG_LINE_RE.match(line):
            continue
        m = _VERSION_RE.search(line)
        if not m:
            continue
        enterprise = "enterprise" in line.lower() or m.group(4) is not None
        return {
            "version": m.group(0),
            "edition": "enterprise" if enterprise else "oss",
            "major": int(m.group(1)),
            "minor": int(m.group(2)),
            "patch": int(m.group(3)),
            "build": int(m.group(4)) if m.group(4) is not None else None,
        }
    raise ValueError("cannot read a Kong version from %r" % text[:200])


def version_tuple(version):
    """``'3.4.2'`` / ``'3.4.3.3'`` -> a tuple of ints (for comparisons)."""
    m = _VERSION_RE.search(version or "")
    if not m:
        raise ValueError("not a Kong version: %r" % (version,))
    return tuple(int(g) for g in m.groups() if g is not None)


# --------------------------------------------------------------------------
# kong migrations list / status
# --------------------------------------------------------------------------
def parse_list_blocks(stdout):
    """Parse the blocks of ``migrations list`` text into a state dict (without needs_bootstrap)."""
    st = empty_state()
    current = None
    for raw in (stdout or "").splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        header = None
        for title, kind in _LIST_BLOCKS:
            if stripped == title:
                header = kind
                break
        if header:
            current = header
            continue
        if stripped.startswith("Run 'kong migrations") or _LOG_LINE_RE.match(stripped):
            current = None
            continue
        m = _LIST_LINE_RE.match(line)
        if current and m:
            names = [n.strip() for n in m.group(2).split(",") if n.strip()]
            st[current].setdefault(m.group(1), []).extend(names)
    return st


def parse_migrations_list(rc, stdout, stderr):
    """Interpret ``kong migrations list`` by exit code and text (contract.md section 1).

    rc 3 -> needs bootstrap (which migrations are new is not printed);
    0 -> up to date; 4 -> pending (maybe also new); 5 -> new.  Anything else
    raises ``KongCliError`` with Kong's error message.
    """
    if rc == LIST_RC_NEEDS_BOOTSTRAP:
        st = empty_state(needs_bootstrap=True)
        st["new_unknown"] = True
        return st
    if rc not in (LIST_RC_UP_TO_DATE, LIST_RC_PENDING, LIST_RC_NEW):
        msg = kong_error_message(stderr) or (stderr or stdout or "").strip() or "kong migrations list failed"
        raise KongCliError(msg, rc=rc, stdout=stdout, stderr=stderr)
    st = parse_list_blocks(stdout)
    # Cross-check the exit code with the text so a format change is not silently misread.
    if rc == LIST_RC_PENDING and not st["pending"]:
        raise KongCliError("kong migrations list exited 4 (pending) but no pending migrations were parsed", rc=rc, stdout=stdout, stderr=stderr)
    if rc == LIST_RC_NEW and not st["new"]:
        raise KongCliError("kong migrations list exited 5 (new) but no new migrations were parsed", rc=rc, stdout=stdout, stderr=stderr)
    if rc == LIST_RC_UP_TO_DATE and (st["pending"] or st["new"]):
        raise KongCliError("kong migrations list exited 0 but listed pending or new migrations", rc=rc, stdout=stdout, stderr=stderr)
    return st


def parse_migrations_status(rc, stdout, stderr):
    """Interpret ``kong migrations status`` (3.0+): ``cjson.encode(schema_state)``, exit 0."""
    if rc != 0:
        msg = kong_error_message(stderr) or (stderr or stdout or "").strip() or "kong migrations status failed"
        raise KongCliError(msg, rc=rc, stdout=stdout, stderr=stderr)
    doc = None
    for line in (stdout or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
                break
            except ValueError:
                continue
    if doc is None:
        try:
            doc = json.loads(stdout)
        except ValueError:
            raise KongCliError("kong migrations status printed no JSON document", rc=rc, stdout=stdout, stderr=stderr)
    if not isinstance(doc, dict):
        raise KongCliError("kong migrations status printed JSON that is not an object", rc=rc, stdout=stdout, stderr=stderr)
    st = empty_state(needs_bootstrap=bool(doc.get("needs_bootstrap")))
    for key, kind in _STATUS_KEYS:
        entries = doc.get(key) or []
        # cjson encodes an empty Lua table as {}; accept both shapes.
        if isinstance(entries, dict):
            entries = list(entries.values())
        for entry in entries:
            sub = entry.get("subsystem")
            names = entry.get("migrations") or []
            if isinstance(names, dict):
                names = list(names.values())
            names = [n if isinstance(n, str) else n.get("name") for n in names]
            if sub and names:
                st[kind].setdefault(sub, []).extend(names)
    return st


def parse_run_output(stdout):
    """What a bootstrap/up/finish run did: ``{subsystem: [(name, 'executed'|'pending')]}`` plus flags."""
    ran = {}
    for line in (stdout or "").splitlines():
        m = re.match(r"^\s*(\S+) migrated up to: (\S+) \((executed|pending)\)\s*$", line)
        if m:
            ran.setdefault(m.group(1), []).append({"name": m.group(2), "result": m.group(3)})
    return {
        "ran": ran,
        "lock_aborted": LOCK_ABORTED_MARKER in (stdout or ""),
        "already_bootstrapped": "Database already bootstrapped" in (stdout or ""),
        "already_up_to_date": "Database is already up-to-date" in (stdout or ""),
    }


def state_diff(before, after):
    """Per kind, the migrations that appeared or disappeared between two states."""
    out = {}
    for kind in STATE_KINDS:
        b = before.get(kind) or {}
        a = after.get(kind) or {}
        added = {}
        removed = {}
        for sub in sorted(set(a) | set(b)):
            plus = [n for n in a.get(sub, []) if n not in b.get(sub, [])]
            minus = [n for n in b.get(sub, []) if n not in a.get(sub, [])]
            if plus:
                added[sub] = plus
            if minus:
                removed[sub] = minus
        if added or removed:
            out[kind] = {"added": added, "removed": removed}
    if bool(before.get("needs_bootstrap")) != bool(after.get("needs_bootstrap")):
        out["needs_bootstrap"] = {"before": bool(before.get("needs_bootstrap")), "after": bool(after.get("needs_bootstrap"))}
    return out


def format_state(st):
    """A readable, stable text form of a state (for ``diff``)."""
    if st is None:
        return ""
    lines = ["needs_bootstrap: %s" % ("true" if st.get("needs_bootstrap") else "false")]
    for kind in STATE_KINDS:
        migs = st.get(kind) or {}
        lines.append("%s:" % kind)
        for sub in sorted(migs):
            lines.append("  %s: %s" % (sub, ", ".join(migs[sub])))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Running a kong binary
# --------------------------------------------------------------------------
class KongCli:
    """One ``kong`` binary with a node's ``-c`` conf, ``-p`` prefix and ``KONG_*`` environment.

    ``environment`` may hold secrets (``KONG_PG_PASSWORD``): it is passed only
    through the process environment, never on the command line, and never
    returned in ``commands``.
    """

    def __init__(self, run_command, kong_bin, conf=None, prefix=None, environment=None):
        self._run = run_command
        self.kong_bin = kong_bin
        self.conf = conf
        self.prefix = prefix
        self.environment = dict((k, str(v)) for k, v in (environment or {}).items())
        self.commands = []
        self._version = None

    # -- plumbing --------------------------------------------------------
    def run(self, args, with_conf=True, with_prefix=True, record=True):
        """Run ``kong <args>``; returns ``(rc, stdout, stderr)``."""
        argv = [self.kong_bin] + list(args)
        env = dict(self.environment)
        if with_conf and self.conf:
            argv += ["-c", self.conf]
        if with_prefix and self.prefix:
            # -p exists only from 2.4.0; KONG_PREFIX works on every release.
            if self._version is not None and version_tuple(self._version["version"]) < (2, 4):
                env["KONG_PREFIX"] = self.prefix
            else:
                argv += ["-p", self.prefix]
        rc, out, err = self._run(argv, environ_update=env)
        if record:
            self.commands.append(argv)
        return rc, out or "", err or ""

    # -- version ---------------------------------------------------------
    def version(self):
        if self._version is None:
            rc, out, err = self.run(["version"], with_conf=False, with_prefix=False)
            if rc != 0:
                raise KongCliError("'%s version' failed: %s" % (self.kong_bin, (kong_error_message(err) or err or out).strip()),
                                   rc=rc, stdout=out, stderr=err, cmd=[self.kong_bin, "version"])
            try:
                self._version = parse_version(out)
            except ValueError as e:
                raise KongCliError(str(e), rc=rc, stdout=out, stderr=err)
        return self._version

    def has_status_subcommand(self):
        return version_tuple(self.version()["version"]) >= (3, 0)

    # -- migrations ------------------------------------------------------
    def migrations_state(self):
        """Read the schema state: ``status`` JSON on 3.0+, ``list`` text and exit code before."""
        if self.has_status_subcommand():
            rc, out, err = self.run(["migrations", "status"])
            st = parse_migrations_status(rc, out, err)
            st["source"] = "status"
        else:
            rc, out, err = self.run(["migrations", "list"])
            st = parse_migrations_list(rc, out, err)
            st["source"] = "list"
        return st

    def migrations(self, subcommand, db_timeout=None, lock_timeout=None, force=False, yes=False):
        """Run ``kong migrations <subcommand>`` with the timeouts; returns ``(rc, stdout, stderr)``."""
        args = ["migrations", subcommand]
        if yes:
            args.append("--yes")
        if force:
            args.append("--force")
        if db_timeout is not None:
            args += ["--db-timeout", str(int(db_timeout))]
        if lock_timeout is not None:
            args += ["--lock-timeout", str(int(lock_timeout))]
        return self.run(args)


def cli_argument_spec(**defaults):
    """The options of a module that runs a node's ``kong`` (doc fragment ``kongops.upgrade.kong_cli``): one name and
    one type for each, the kong.conf option is ``conf`` (alias ``conf_path``). ``defaults`` sets a module's own
    default of an option where it needs one (a service manager needs a prefix to read the pid file)."""
    spec = dict(
        kong_bin=dict(type="path", default="/usr/local/bin/kong"),
        conf=dict(type="path", aliases=["conf_path"]),
        prefix=dict(type="path"),
        environment=dict(type="dict", default={}, no_log=True),
    )
    for name, value in defaults.items():
        spec[name] = dict(spec[name], default=value)
    return spec


def cli_environment(module, kong_only=True):
    """The module's ``environment`` as strings for a child process. Every value is a possible secret
    (``KONG_PG_PASSWORD``): each non-empty one is hidden from the module's output, whatever option returns it.
    With ``kong_only`` a name that is not ``KONG_*`` fails the module (a typo would otherwise go unnoticed)."""
    env = module.params.get("environment") or {}
    bad = sorted(str(k) for k in env if not str(k).startswith("KONG_"))
    if kong_only and bad:
        module.fail_json(msg="environment accepts only KONG_* variables; got: %s" % ", ".join(bad))
    out = dict((str(k), str(v)) for k, v in env.items() if v is not None)
    for value in out.values():
        if value:
            module.no_log_values.add(value)
    return out
