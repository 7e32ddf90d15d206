"""The database password never appears in a process argument list or in -vvv output.

Runs kong_pg_backup (with verify=restore) and kong_pg_restore through ansible-playbook against a
throwaway PostgreSQL cluster holding a Kong-like database big enough for pg_dump/pg_restore to run
for a moment, and samples /proc/*/cmdline (and the environment of the PostgreSQL client programs)
the whole time.  The password reaches the play through a 0600 vars file, never the command line.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import procsample  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.pgcluster import PgCluster  # noqa: E402  pylint: disable=wrong-import-position

FIXTURE = REPO / "tests" / "integration" / "targets" / "kong_pg_backup" / "files" / "kong_fixture.sql"
CLIENTS = ("pg_dump", "pg_restore", "psql")

PLAY = """
- name: Back up and restore Kong's database
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    conn: &conn
      login_host: "{{ pg_host }}"
      login_port: "{{ pg_port }}"
      login_user: kong
      login_password: "{{ pg_password }}"
  tasks:
    - name: Back up, verified by restoring into a scratch database
      kongops.upgrade.kong_pg_backup:
        <<: *conn
        login_db: kong
        dest: "{{ dest }}"
        jobs: 2
        verify: restore
      register: backup
    - name: Restore into another database
      kongops.upgrade.kong_pg_restore:
        <<: *conn
        login_db: kong_restored
        src: "{{ backup.backup_path }}"
        create: true
"""


@pytest.fixture
def big_kong_db():
    base = tempfile.mkdtemp(prefix="kongops-pgsecret-")
    pg = PgCluster.create(base)
    try:
        pg.create_database("kong", owner="kong")
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "rows=12000", "-h", pg.sockdir, "-p", str(pg.port),
                        "-U", "postgres", "-d", "kong", "-f", str(FIXTURE)], check=True, capture_output=True)
        yield pg
    finally:
        pg.destroy()


def test_password_in_no_argv_and_no_output(big_kong_db, tmp_path):
    pg = big_kong_db
    password = pg.info()["password"]
    coll = tmp_path / "collections"
    (coll / "ansible_collections" / "kongops").mkdir(parents=True)
    (coll / "ansible_collections" / "kongops" / "upgrade").symlink_to(REPO, target_is_directory=True)
    (tmp_path / "play.yml").write_text(PLAY)
    vars_file = tmp_path / "vars.json"
    fd = os.open(str(vars_file), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pg_host": pg.host, "pg_port": pg.port, "pg_password": password, "dest": str(tmp_path / "backups")}, f)

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(coll), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "-i", "localhost,",
           str(tmp_path / "play.yml"), "-e", "@" + str(vars_file)]
    seen, environs, tree = set(), [], set()
    # stdout and stderr apart: the assertions on the play's output read stdout; a warning on stderr stays out of it
    with open(str(tmp_path / "out.log"), "wb") as out, open(str(tmp_path / "err.log"), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(tmp_path))
        tree.add(proc.pid)
        deadline = time.monotonic() + 600
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                procsample.sample(proc.pid, tree, seen, environs, CLIENTS)
                time.sleep(0.005)  # leave the two shared cores to pg_dump
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    output = (tmp_path / "out.log").read_text(errors="replace")
    errors = (tmp_path / "err.log").read_text(errors="replace")
    streams = "stderr:\n%s\nstdout (tail):\n%s" % (errors[-3000:], output[-5000:])
    assert proc.returncode == 0, streams

    # The sampling really saw the client programs at work (otherwise this test would prove nothing).
    progs = {os.path.basename(c.split(" ", 1)[0]) for c in seen}
    assert "pg_dump" in progs and "pg_restore" in progs, sorted(progs)
    assert any("AnsiballZ_kong_pg_backup" in c for c in seen) and any("AnsiballZ_kong_pg_restore" in c for c in seen)

    leaked = [c for c in seen if password in c]
    assert leaked == [], leaked
    # Not in the environment of the client programs either: they read a temporary passfile.
    assert environs, "no client program environment could be read"
    assert all(password.encode() not in entry[1] for entry in environs)
    assert any(b"PGPASSFILE=" in entry[1] for entry in environs)

    # -vvv shows the module arguments (masked) and results: the password is not there.
    assert "kong_pg_restore" in output and "restored backup" in output, streams
    assert password not in output and password not in errors
