"""The ``kong`` command of one release (contract.md sections 1, 5 and 8).

``python -m kongsim.cli ARGS`` with ``KONGSIM_RELEASE=<version>`` (what the installed wrapper
does), or ``main(argv, release)`` from Python.

Handled here: ``version [-a]``, ``migrations ...``, ``check``, ``config db_export|db_import|parse|init``,
``hybrid gen_cert``.  Process commands (``start stop quit restart reload health prepare`` and, from
3.9, ``drain``) go to ``kongsim.process.main(cmd, args, release)`` (SIM-DAEMON), which returns an
exit code and may raise :class:`KongError` (printed in Kong's error format, exit 1).

Helpers shared with process.py: :class:`KongError`, :class:`Log`, :func:`parse_args`.
"""

import datetime
import os
import sys

from kongsim import conf as confmod
from kongsim import releases

HINT = "  Run with --v (verbose) or --vv (debug) for more details"
PROCESS_COMMANDS = ("start", "stop", "quit", "restart", "reload", "health", "prepare", "drain")


class KongError(Exception):
    """An uncaught error of the kong CLI: printed as ``Error: <msg>`` + hint, exit 1."""


class UsageError(Exception):
    """Bad command-line arguments (lapp's complaint); exit 1."""


class Log(object):
    """Kong's CLI logger (kong/cmd/utils/log.lua): info to stdout without prefix; warn/error to
    stderr as ``YYYY/MM/DD HH:MM:SS [warn] msg``; verbose/debug only with --v/--vv."""

    def __init__(self, quiet=False, verbose=0, out=None, err=None):
        self.quiet = quiet
        self.verbose_level = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @staticmethod
    def _stamp():
        return datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S")

    def info(self, msg, *args):
        if self.quiet:
            return
        self.out.write((msg % args if args else msg) + "\n")
        self.out.flush()

    __call__ = info

    def _leveled(self, level, stream, msg, args):
        stream.write("%s [%s] %s\n" % (self._stamp(), level, msg % args if args else msg))
        stream.flush()

    def warn(self, msg, *args):
        if not self.quiet:
            self._leveled("warn", self.err, msg, args)

    def error(self, msg, *args):
        self._leveled("error", self.err, msg, args)

    def verbose(self, msg, *args):
        # [inferred] Kong writes verbose/debug lines to stdout with the timestamp prefix
        if self.verbose_level >= 1 and not self.quiet:
            self._leveled("verbose", self.out, msg, args)

    def debug(self, msg, *args):
        if self.verbose_level >= 2 and not self.quiet:
            self._leveled("debug", self.out, msg, args)


def parse_args(argv, flags=(), options=(), aliases=None, max_positional=None):
    """A small lapp-like parser.

    ``flags``: long names of boolean switches; ``options``: long names taking a value;
    ``aliases``: {"-c": "conf", ...}.  Universal ``--v``/``--vv`` are always accepted.
    Returns (positionals, opts dict).  Unknown options raise UsageError."""
    aliases = aliases or {}
    opts = {"v": False, "vv": False}
    pos = []
    i = 0
    argv = list(argv)
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and a != "-":
            name, value = a, None
            if "=" in a and a.startswith("--"):
                name, value = a.split("=", 1)
            key = aliases.get(name)
            if key is None and name.startswith("--"):
                key = name[2:].replace("-", "_")
            if key in ("v", "vv"):
                opts[key] = True
            elif key in flags:
                opts[key] = True
            elif key in options:
                if value is None:
                    i += 1
                    if i >= len(argv):
                        raise UsageError("option %s requires a value" % name)
                    value = argv[i]
                opts[key] = value
            else:
                raise UsageError("unrecognized parameter: %s" % a.lstrip("-"))
        else:
            pos.append(a)
        i += 1
    if max_positional is not None and len(pos) > max_positional:
        raise UsageError("unrecognized parameter: %s" % pos[max_positional])
    return pos, opts


USAGE = """Usage: kong COMMAND [OPTIONS]

The available commands are:
 check
 config
 health
 hybrid
 migrations
 prepare
 quit
 reload
 restart
 start
 stop
 version

Options:
 --v              verbose
 --vv             debug
"""


def _verbosity(opts):
    return 2 if opts.get("vv") else (1 if opts.get("v") else 0)


def _nginx_number(v):
    parts = [int(x) for x in v.split(".")]
    return "%d%03d%03d" % tuple((parts + [0, 0, 0])[:3])


def cmd_version(args, release, log):
    _pos, opts = parse_args(args, flags=("all",), aliases={"-a": "all"}, max_positional=0)
    if not opts.get("all"):
        log(release.version_string)
        return 0
    label = "Kong Enterprise" if release.edition == "enterprise" else "Kong"
    log("%s: %s", label, release.version)
    log("ngx_lua: %s", release.ngx_lua_version)
    log("nginx: %s", _nginx_number(release.nginx_version))
    log("Lua: %s", release.lua_version)
    return 0


def cmd_check(args, release, log):
    pos, opts = parse_args(args, max_positional=1)
    path = pos[0] if pos else "/etc/kong/kong.conf"
    try:
        confmod.load(path, release=release)
    except confmod.ConfError as e:
        if str(e).startswith("no file at:"):
            raise KongError(str(e))
        for err in e.errors:
            log.error(err)
        return 1
    log("configuration at %s is valid", path)
    return 0


def load_conf(opts, release, log, conf_key="conf", prefix_key="prefix"):
    """conf.load for a CLI command, with Kong's verbose lines; ConfError -> KongError."""
    log.verbose("Kong: %s", release.version)
    try:
        c = confmod.load(opts.get(conf_key), prefix=opts.get(prefix_key), release=release)
    except confmod.ConfError as e:
        raise KongError(str(e))
    if c.get("conf_path"):
        log.verbose("reading config file at %s", c["conf_path"])
    else:
        log.verbose("no config file found at /etc/kong/kong.conf")
        log.verbose("no config file found at /etc/kong.conf")
        log.verbose("no config file, skip loading")
    log.verbose("prefix in use: %s", c["prefix"])
    if c.get("database") == "cassandra" and release.cassandra == "deprecated":
        log.warn("Support for Cassandra is deprecated. Please refer to https://konghq.com/blog/cassandra-support-deprecated")
    return c


def cmd_migrations(args, release, log):
    from kongsim import migrations
    if not args or args[0].startswith("-"):
        raise UsageError("kong migrations COMMAND [OPTIONS]: missing command")
    sub = args[0]
    subs = ["bootstrap", "up", "finish", "list", "reset"] + (["status"] if release.has_status_subcommand else [])
    options = ["db_timeout", "lock_timeout", "conf"] + (["prefix"] if release.has_prefix_option else [])
    aliases = {"-y": "yes", "-q": "quiet", "-f": "force", "-c": "conf"}
    if release.has_prefix_option:
        aliases["-p"] = "prefix"
    _pos, opts = parse_args(args[1:], flags=("yes", "quiet", "force"), options=options, aliases=aliases, max_positional=0)
    if sub not in subs:
        raise UsageError("No such command for migrations: %s" % sub)
    log.quiet = bool(opts.get("quiet"))
    log.verbose_level = _verbosity(opts)
    c = load_conf(opts, release, log)
    for key in ("db_timeout", "lock_timeout"):
        if opts.get(key) is not None:
            try:
                opts[key] = float(opts[key])
            except ValueError:
                raise UsageError("%s: not a number" % key)
    if opts.get("db_timeout") is None and release.db_timeout_default is not None:
        opts["db_timeout"] = release.db_timeout_default
    if opts.get("db_timeout") is not None:
        c["pg_timeout"] = int(opts["db_timeout"] * 1000)
    if opts.get("lock_timeout") is None:
        opts["lock_timeout"] = release.lock_timeout_default
    return migrations.command(sub, c, release, opts, log)


def cmd_config(args, release, log):
    from kongsim import declarative
    if not args or args[0].startswith("-"):
        raise UsageError("kong config COMMAND [OPTIONS]: missing command")
    sub = args[0].replace("-", "_")
    pos, opts = parse_args(args[1:], options=("conf", "prefix"), aliases={"-c": "conf", "-p": "prefix"}, max_positional=1)
    log.verbose_level = _verbosity(opts)
    if sub == "init":
        return declarative.write_init(pos[0] if pos else "kong.yml", release, log)
    if sub not in ("db_export", "db_import", "parse"):
        raise KongError("unknown command '%s'" % sub)
    c = load_conf(opts, release, log)
    kong_env = os.path.join(c["prefix"], ".kong_env")
    if os.path.exists(kong_env):
        try:
            c = confmod.load(kong_env, release=release)
        except confmod.ConfError as e:
            raise KongError(str(e))
    if sub == "db_import" and c.get("database") == "off":
        raise KongError("'kong config db_import' only works with a database.\n"
                        "When using database=off, reload your declarative configuration\n"
                        "using the /config endpoint.")
    if sub == "db_export" and c.get("database") == "off":
        raise KongError("'kong config db_export' only works with a database.")
    return declarative.config_command(sub, pos[0] if pos else None, c, release, log)


def cmd_hybrid(args, release, log):
    from kongsim import declarative
    pos, opts = parse_args(args, flags=("force",), options=("days",), aliases={"-f": "force", "-d": "days"}, max_positional=3)
    if not pos or pos[0] != "gen_cert":
        raise KongError("unknown command '%s'" % (pos[0] if pos else ""))
    cert = pos[1] if len(pos) > 1 else "cluster.crt"
    key = pos[2] if len(pos) > 2 else "cluster.key"
    return declarative.gen_cert(cert, key, bool(opts.get("force")), log)


COMMANDS = {"version": cmd_version, "check": cmd_check, "migrations": cmd_migrations, "config": cmd_config,
            "hybrid": cmd_hybrid}


def run(argv, release, log):
    if not argv:
        log.out.write(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd in ("-h", "--help", "help"):
        log.out.write(USAGE)
        return 0
    if cmd in PROCESS_COMMANDS and (cmd != "drain" or release.has_drain):
        from kongsim import process
        return process.main(cmd, rest, release)
    if cmd not in COMMANDS:
        log.err.write(USAGE + "\nNo such command: %s\n" % cmd)
        return 1
    return COMMANDS[cmd](rest, release, log)


def format_error(msg, verbose=False):
    if verbose:
        # [inferred] with --v Kong prints the Lua traceback instead of the hint
        return "Error: \n%s\nstack traceback:\n\t[C]: in function 'error'\n" % msg
    return "Error: %s\n\n%s\n" % (msg, HINT)


def main(argv=None, release=None):
    """Run the kong command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if release is None:
        release = releases.get(os.environ.get("KONGSIM_RELEASE", ""))
    elif not isinstance(release, releases.Release):
        release = releases.get(release)
    verbose = "--v" in argv or "--vv" in argv
    log = Log(verbose=2 if "--vv" in argv else (1 if verbose else 0))
    try:
        return run(argv, release, log)
    except KongError as e:
        sys.stdout.flush()
        sys.stderr.write(format_error(str(e), verbose))
        sys.stderr.flush()
        return 1
    except UsageError as e:
        sys.stdout.flush()
        sys.stderr.write("%s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Re-enter through the package module so that every module shares one KongError class.
    from kongsim import cli as _cli
    sys.exit(_cli.main())
