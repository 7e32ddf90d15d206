"""A stand-in for the OpenResty ``nginx`` binary that Kong's packaged systemd unit runs (contract.md section 10):

    ExecStartPre=/usr/local/bin/kong prepare -p /usr/local/kong
    ExecStart=/usr/local/openresty/nginx/sbin/nginx -p /usr/local/kong -c nginx.conf
    ExecStop=/bin/kill -s QUIT $MAINPID

``nginx -p PREFIX -c nginx.conf`` runs the node in the foreground from what ``kong prepare`` wrote in the prefix
(``.kong_env``). Kong's ``init_by_lua`` runs the same schema check as ``kong start`` (contract.md section 4,
"Starting nginx directly", Kong/kong#6022): a database that needs bootstrapping or has new migrations makes nginx
fail with ``init_by_lua error: ...`` and exit 1; pending migrations start. ``-s reload|quit|stop`` signal the
node whose pid is in ``PREFIX/pids/nginx.pid``, as nginx does; ``-t`` checks that the prefix was prepared.
"""

import os
import signal
import sys

from kongsim import conf as kconf
from kongsim import pids
from kongsim import releases

SIGNALS = {"reload": signal.SIGHUP, "quit": signal.SIGQUIT, "stop": signal.SIGTERM, "reopen": signal.SIGUSR1}


def _emerg(msg):
    sys.stderr.write("nginx: [emerg] %s\n" % msg)
    return 1


def parse(argv):
    """nginx's options that the unit uses: -p PREFIX, -c CONF (relative to the prefix), -s SIGNAL, -t."""
    opts = {"prefix": None, "conf": "nginx.conf", "signal": None, "test": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-p", "-c", "-s", "-g"):
            if i + 1 >= len(argv):
                needs = {"-p": "directory name", "-c": "file name", "-s": "signal", "-g": "parameter"}[a]
                raise ValueError('option "%s" requires %s' % (a, needs))
            key = {"-p": "prefix", "-c": "conf", "-s": "signal", "-g": "global"}[a]
            opts[key] = argv[i + 1]
            i += 2
            continue
        if a == "-t":
            opts["test"] = True
        else:
            raise ValueError('invalid option: "%s"' % a.lstrip("-"))
        i += 1
    if not opts["prefix"]:
        opts["prefix"] = "/usr/local/openresty/nginx/"
    return opts


def schema_error(conf, release):
    """The text init_by_lua fails with for this database, or None (DB-less nodes skip the check)."""
    if conf.get("database") != "postgres":
        return None
    from kongsim import db as kdb
    from kongsim import migrations
    try:
        conn = kdb.connect(conf)
    except kdb.DbError as e:
        return str(e)
    try:
        state = kdb.schema_state(conn, release, conf.get("loaded_plugins"))
    except kdb.DbError as e:
        return str(e)
    finally:
        conn.close()
    return migrations.start_check(state)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse(argv)
    except ValueError as e:
        return _emerg(str(e))
    prefix = os.path.abspath(opts["prefix"])
    conf_file = os.path.join(prefix, opts["conf"])
    if not os.path.isfile(conf_file):
        return _emerg('open() "%s" failed (2: No such file or directory)' % conf_file)
    if opts["signal"]:
        if opts["signal"] not in SIGNALS:
            return _emerg('invalid option: "-s %s"' % opts["signal"])
        pid = pids.nginx_pid(prefix)
        if not pids.pid_alive(pid):
            sys.stderr.write('nginx: [error] invalid PID number "" in "%s"\n' % os.path.join(prefix, "pids", "nginx.pid"))
            return 1
        os.kill(pid, SIGNALS[opts["signal"]])
        return 0
    release = releases.get(os.environ["KONGSIM_RELEASE"])
    try:
        conf = kconf.read_kong_env(prefix, release)
    except kconf.ConfError as e:
        return _emerg(str(e))
    if conf is None:
        return _emerg('open() "%s" failed (2: No such file or directory): run "kong prepare" first'
                      % os.path.join(prefix, ".kong_env"))
    if opts["test"]:
        sys.stderr.write("nginx: the configuration file %s syntax is ok\nnginx: configuration file %s test is successful\n"
                         % (conf_file, conf_file))
        return 0
    err = schema_error(conf, release)
    if err:
        sys.stderr.write("nginx: [error] init_by_lua error: %s\n" % err)
        return 1
    from kongsim import daemon
    os.chdir(prefix)
    return daemon.run(prefix, release, None)


if __name__ == "__main__":
    sys.exit(main())
