"""Benchmark kong_pg_backup against bare pg_dump on a Kong-like database of at least 500 MB.

    .venv/bin/python bench/backup_bench.py [--size-mb 500] [--rounds 2] [--keep]

Creates a throwaway PostgreSQL cluster (tests/support/pgcluster.py), fills a Kong-like database
(the integration fixture's schema; rows made with generate_series) until pg_database_size reaches
--size-mb, then times, interleaved in each round so the shared machine's noise hits all alike:

  * bare ``pg_dump -Fd -j2``               and kong_pg_backup directory/2 jobs (verify=checksums)
  * bare ``pg_dump -Fc``                   and kong_pg_backup custom (verify=checksums)

kong_pg_backup runs through its module_utils logic (run_backup) with a subprocess runner, i.e. the
module minus Ansible's fixed start-up cost.  Prints the median of each and the ratios.  Not run by
the tests.
"""

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.pgcluster import PgCluster  # noqa: E402


def import_collection():
    """Import the collection's module_utils from this tree (collections/ or a temporary link)."""
    candidate = REPO / "collections"
    if not (candidate / "ansible_collections" / "kongops" / "upgrade").exists():
        candidate = pathlib.Path(tempfile.mkdtemp(prefix="kongops-bench-coll-"))
        (candidate / "ansible_collections" / "kongops").mkdir(parents=True)
        (candidate / "ansible_collections" / "kongops" / "upgrade").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(candidate))
    from ansible_collections.kongops.upgrade.plugins.module_utils import pg_backup, pg_common  # noqa: E402
    return pg_backup, pg_common


FIXTURE = REPO / "tests" / "integration" / "targets" / "kong_pg_backup" / "files" / "kong_fixture.sql"

# More realistic payloads than the fixture's: Kong plugin configs and route paths differ row to row.
GROW_SQL = """
SET ROLE kong;
INSERT INTO services
SELECT gen_random_uuid(), now() - g * interval '1 second', now(), 'bench-svc-' || :start + g, 5, 'https',
       'upstream-' || md5(g::text) || '.svc.cluster.local', 443, '/' || md5((g * 7)::text), 60000, 60000, 60000,
       ARRAY['bench', 'team-' || (g % 50)], '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :n) g;
INSERT INTO routes
SELECT gen_random_uuid(), now(), now(), 'bench-route-' || :start + g, NULL, ARRAY['http','https'], ARRAY['GET','POST'],
       ARRAY[md5(g::text) || '.example.com'], ARRAY['/v1/' || md5((g * 3)::text) || '/items/\\d+', '/v2/' || g],
       true, false, g % 10, ARRAY['bench'], '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :n * 2) g;
INSERT INTO consumers
SELECT gen_random_uuid(), now(), 'bench-user-' || :start + g, md5(g::text), ARRAY['bench'], '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :n) g;
INSERT INTO plugins
SELECT gen_random_uuid(), now(), 'request-transformer', NULL, NULL, NULL,
       jsonb_build_object('add', jsonb_build_object('headers', jsonb_build_array('x-a:' || md5(g::text), 'x-b:' || md5((g + 1)::text)),
                                                    'querystring', jsonb_build_array('q=' || md5((g + 2)::text))),
                          'remove', jsonb_build_object('headers', jsonb_build_array('x-secret-' || (g % 97))),
                          'http_method', NULL, 'note', md5((g + 3)::text) || md5((g + 4)::text) || md5((g + 5)::text)),
       true, 'plugins:bench:' || :start + g, ARRAY['http','https'], ARRAY['bench'], '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, :n) g;
RESET ROLE;
"""


def psql(pg, *args, stdin=None):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", "kong"]
                   + list(args), check=True, capture_output=True, input=stdin, text=True)


def db_size(pg):
    proc = subprocess.run(["psql", "-X", "-A", "-t", "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", "kong",
                           "-c", "SELECT pg_database_size('kong')"], check=False, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        raise RuntimeError("psql (database size) exited %d; stderr: %s; stdout: %s"
                           % (proc.returncode, proc.stderr.strip()[-600:], proc.stdout.strip()[-600:]))
    return int(proc.stdout.strip())


def generate(pg, size_mb):
    pg.create_database("kong", owner="kong")
    psql(pg, "-v", "rows=1000", "-f", str(FIXTURE))
    step, start = 100000, 0
    while db_size(pg) < size_mb * 1024 * 1024:
        t = time.monotonic()
        psql(pg, "-v", "n=%d" % step, "-v", "start=%d" % start, stdin=GROW_SQL)
        start += step * 2
        print("  generated: %d MB (%.1fs)" % (db_size(pg) // (1024 * 1024), time.monotonic() - t), flush=True)
    psql(pg, "-c", "VACUUM ANALYZE")
    return db_size(pg)


def runner(argv, env):
    full = dict(os.environ)
    full.update(env or {})
    proc = subprocess.run(argv, env=full, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--base", default="/tmp/kongops-backup-bench")
    ap.add_argument("--keep", action="store_true", help="keep the cluster (reused by the next run)")
    args = ap.parse_args()
    pg_backup, pg_common = import_collection()
    os.umask(0o077)

    pg = PgCluster.create(args.base)
    work = tempfile.mkdtemp(prefix="kongops-bench-out-")
    try:
        t = time.monotonic()
        size = db_size(pg) if pg_common_exists(pg) else 0
        if size < args.size_mb * 1024 * 1024:
            print("generating a Kong-like database of at least %d MB ..." % args.size_mb, flush=True)
            size = generate(pg, args.size_mb)
            print("generated %d MB in %.0fs" % (size // (1024 * 1024), time.monotonic() - t), flush=True)
        params = dict(login_host=pg.host, login_port=pg.port, login_user="kong", login_password=pg.info()["password"],
                      login_db="kong", ssl_mode="prefer", passfile=None)
        pg_dump = shutil.which("pg_dump")

        def bare(fmt, jobs):
            out = os.path.join(work, "bare")
            argv = [pg_dump, "--no-password", "--format=" + fmt, "--file=" + out, "--dbname=kong"]
            if jobs > 1:
                argv.append("--jobs=%d" % jobs)
            with pg_common.libpq_env(params) as env:
                t0 = time.monotonic()
                rc, dummy, err = runner(argv, env)
                elapsed = time.monotonic() - t0
            if rc:
                raise SystemExit("pg_dump failed: %s" % err)
            if os.path.isdir(out):
                shutil.rmtree(out)
            else:
                os.unlink(out)
            return elapsed

        def module(fmt, jobs):
            dest = os.path.join(work, "module")
            p = dict(params, dest=dest, format=fmt, jobs=jobs, compression=None, label="bench", keep=0, pg_dump_path=pg_dump,
                     pg_restore_path=os.path.join(os.path.dirname(pg_dump), "pg_restore"), verify="checksums",
                     kong_version=None, table_checksums=False)
            t0 = time.monotonic()
            result = pg_backup.run_backup(p, runner)
            elapsed = time.monotonic() - t0
            assert result["verified"] == "checksums"
            shutil.rmtree(dest)
            return elapsed, result["size_bytes"], result["durations"]

        cases = [("bare pg_dump -Fd -j2", lambda: bare("d", 2)),
                 ("kong_pg_backup directory jobs=2", lambda: module("directory", 2)),
                 ("bare pg_dump -Fc", lambda: bare("c", 1)),
                 ("kong_pg_backup custom", lambda: module("custom", 1))]
        times = dict((case[0], []) for case in cases)
        details = {}
        own = {}  # module total / the module's own pg_dump phase, measured in the same call: immune to noise between runs
        for r in range(args.rounds):
            for name, fn in cases:
                value = fn()
                if isinstance(value, tuple):
                    value, dump_size, durations = value
                    details[name] = (dump_size, durations)
                    own.setdefault(name, []).append(durations["total"] / durations["dump"])
                times[name].append(value)
                print("  round %d: %-34s %7.2fs" % (r + 1, name, value), flush=True)
        med = dict((k, statistics.median(v)) for k, v in times.items())
        print()
        print("database: %d MB (pg_database_size); rounds: %d; machine: %d cores, load %s" % (
            size // (1024 * 1024), args.rounds, os.cpu_count(), " ".join("%.1f" % x for x in os.getloadavg())))
        header = ("case", "median s", "ratio vs bare same fmt", "ratio vs bare -Fc", "total / own pg_dump phase")
        print("%-34s %9s %22s %20s %24s" % header)
        rows = [("bare pg_dump -Fc", None), ("bare pg_dump -Fd -j2", None),
                ("kong_pg_backup custom", "bare pg_dump -Fc"), ("kong_pg_backup directory jobs=2", "bare pg_dump -Fd -j2")]
        for name, base in rows:
            same = "%.3f" % (med[name] / med[base]) if base else "-"
            inner = "%.3f" % statistics.median(own[name]) if name in own else "-"
            print("%-34s %9.2f %22s %20.3f %24s" % (name, med[name], same, med[name] / med["bare pg_dump -Fc"], inner))
        for name, (dump_size, durations) in details.items():
            print("%s: dump %d MB, phases %s" % (name, dump_size // (1024 * 1024), durations))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            pg.destroy()


def pg_common_exists(pg):
    out = subprocess.run(["psql", "-X", "-A", "-t", "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", "postgres",
                          "-c", "SELECT count(*) FROM pg_database WHERE datname = 'kong'"], check=False, capture_output=True, text=True).stdout
    return out.strip() == "1"


if __name__ == "__main__":
    main()
