"""Throwaway PostgreSQL clusters for tests, the lab and benchmarks.

A cluster is created with ``initdb`` in its own directory, listens on one
127.x.y.z address and a free TCP port, and has a password-authenticated role
for Kong.  Server binaries refuse to run as root, so they run as ``postgres``.

    with PgCluster.create("/tmp/x") as pg:
        pg.create_database("kong", owner="kong")
        pg.dsn("kong")
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
KONG_USER = "kong"
KONG_PASSWORD = "kong-sandbox-secret"


def pg_bindir():
    for d in PG_BIN_CANDIDATES:
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql); run scripts/setup")


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _as_postgres(cmd, **kw):
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class PgCluster:
    """One PostgreSQL server in ``base``; state is kept in ``base/cluster.json``."""

    def __init__(self, base, host, port):
        self.base = os.path.abspath(base)
        self.host = host
        self.port = port
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.bindir = pg_bindir()

    # -- lifecycle -------------------------------------------------------
    @classmethod
    def create(cls, base, host="127.0.0.1", port=None, start=True):
        base = os.path.abspath(base)
        state = os.path.join(base, "cluster.json")
        if os.path.exists(state):
            pg = cls.load(base)
        else:
            pg = cls(base, host, port or free_port(host))
            pg._initdb()
            with open(state, "w") as f:
                json.dump({"host": pg.host, "port": pg.port}, f)
        if start and not pg.running():
            pg.start()
        return pg

    @classmethod
    def load(cls, base):
        with open(os.path.join(base, "cluster.json")) as f:
            st = json.load(f)
        return cls(base, st["host"], st["port"])

    def _initdb(self):
        os.makedirs(self.sockdir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        pwfile = os.path.join(self.base, "pwfile")
        _as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", "postgres",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\nlisten_addresses = '%s'\nport = %d\nunix_socket_directories = '%s'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 300\nshared_buffers = 64MB\n" % (self.host, self.port, self.sockdir))
        if os.path.exists(pwfile):
            os.unlink(pwfile)

    def running(self):
        return os.path.exists(os.path.join(self.datadir, "postmaster.pid")) and self._ready()

    def _ready(self):
        r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", self.sockdir, "-p", str(self.port)],
                           capture_output=True, check=False)
        return r.returncode == 0

    def start(self):
        _as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l",
                      os.path.join(self.base, "server.log"), "-w", "-t", "30", "start"])
        self.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
                  "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'; END IF; END$$;" % (KONG_USER, KONG_USER, KONG_PASSWORD))

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            _as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", mode, "-w", "stop"])

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    # -- helpers ---------------------------------------------------------
    def psql(self, sql, db="postgres"):
        """Run SQL as the superuser over the socket; returns stdout.

        The SQL goes through stdin, never argv: it may carry the role's password.
        """
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir,
                            "-p", str(self.port), "-U", "postgres", "-d", db],
                           input=sql, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr.strip())
        return r.stdout

    def create_database(self, name, owner=KONG_USER):
        exists = self.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name).strip()
        if not exists:
            self.psql('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))

    def drop_database(self, name):
        self.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def dsn(self, db="kong", user=KONG_USER, password=KONG_PASSWORD):
        return "host=%s port=%d dbname=%s user=%s password=%s" % (self.host, self.port, db, user, password)

    def kong_conf(self, db="kong"):
        """The kong.conf keys that point a node at this server."""
        return {"database": "postgres", "pg_host": self.host, "pg_port": str(self.port),
                "pg_database": db, "pg_user": KONG_USER, "pg_password": KONG_PASSWORD}

    def info(self):
        return {"host": self.host, "port": self.port, "socket_dir": self.sockdir, "superuser": "postgres",
                "user": KONG_USER, "password": KONG_PASSWORD, "base": self.base}


def main(argv=None):
    p = argparse.ArgumentParser(description="Throwaway PostgreSQL cluster")
    p.add_argument("action", choices=["create", "start", "stop", "destroy", "info"])
    p.add_argument("base")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    a = p.parse_args(argv)
    if a.action == "create":
        pg = PgCluster.create(a.base, a.host, a.port)
    else:
        pg = PgCluster.load(a.base)
        if a.action == "start" and not pg.running():
            pg.start()
        elif a.action == "stop":
            pg.stop()
        elif a.action == "destroy":
            pg.destroy()
            return 0
    json.dump(pg.info(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
