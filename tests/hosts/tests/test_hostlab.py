"""The container hosts are real machines as far as Ansible and Kong's packages can tell: systemd as PID 1, their own
filesystem, SSH as a non-root user with sudo, Kong installed with apt from the repository of its release line and run
by its packaged unit, PostgreSQL and HAProxy from Debian's packages under systemd."""
import json
import subprocess
import threading

from hostkit import ROOT, run

from hosts import image as image_mod
from hosts import packages
from hosts.hostlab import HostLab


def test_packages_are_laid_out_as_kongs(tmp_path):
    debs = packages.build_all(str(tmp_path / "cache"), ["3.4.2", "3.4.3.3"])
    listing = run(["dpkg-deb", "-c", debs["3.4.2"]]).stdout
    for path in ("./usr/local/bin/kong", "./usr/local/openresty/nginx/sbin/nginx", "./etc/kong/kong.conf.default",
                 "./lib/systemd/system/kong.service", "./usr/local/kong/"):
        assert path in listing, (path, listing)
    assert "./lib/systemd/system/kong-enterprise-edition.service" in run(["dpkg-deb", "-c", debs["3.4.3.3"]]).stdout
    run(["dpkg-deb", "-x", debs["3.4.2"], tmp_path / "x"])
    unit = (tmp_path / "x/lib/systemd/system/kong.service").read_text()
    assert "ExecStartPre=/usr/local/bin/kong prepare -p /usr/local/kong" in unit
    assert "ExecStop=/bin/kill -s QUIT $MAINPID" in unit
    fields = run(["dpkg-deb", "-f", debs["3.4.3.3"], "Package", "Version"]).stdout.split()
    assert fields == ["Package:", "kong-enterprise-edition", "Version:", "3.4.3.3"]


def test_one_signed_repository_per_release_line(tmp_path):
    debs = packages.build_all(str(tmp_path / "cache"), ["2.8.4", "3.4.2", "3.4.3.3"])
    key = packages.make_signing_key(str(tmp_path / "gpg"), str(tmp_path / "key.asc"))
    repos = packages.write_repositories(debs, str(tmp_path / "www"), str(tmp_path / "gpg"))
    assert sorted(repos) == ["gateway-28", "gateway-34"]
    index = (tmp_path / "www/public/gateway-34/deb/debian/dists/bookworm/main" / ("binary-%s" % packages.arch()) / "Packages").read_text()
    assert "Package: kong\nVersion: 3.4.2\n" in index and "Package: kong-enterprise-edition\nVersion: 3.4.3.3\n" in index
    assert "2.8.4" not in index
    keyring = tmp_path / "keyring.gpg"
    run(["gpg", "--batch", "--dearmor", "-o", keyring, key])
    inrelease = tmp_path / "www/public/gateway-34/deb/debian/dists/bookworm/InRelease"
    assert run(["gpgv", "--keyring", keyring, inrelease], check=False).returncode == 0
    inrelease.write_text(inrelease.read_text().replace("gateway-34", "gateway-35"))
    assert run(["gpgv", "--keyring", keyring, inrelease], check=False).returncode != 0


def test_hosts_are_separate_machines(host_lab):
    lab = host_lab("traditional", "--nodes", "1", "--version", "3.3.1", "--no-seed")
    st = lab.state
    names = {h["name"] for h in st["hosts"]}
    assert names == {"kong1", "pg-main", "lb1"}
    for h in st["hosts"]:
        info = json.loads(run(["podman", "inspect", h["container"]], env=dict(image_mod.podman_env())).stdout)[0]
        assert info["Mounts"] == [], "a host shares a path: %s" % info["Mounts"]
        assert info["Config"]["Labels"].get("kongops.lab") == str(lab.dir)
    # Over SSH as the login user: not root, passwordless sudo, systemd as PID 1, its own host name (not its inventory name).
    out = lab.ssh("kong1", "id -un; sudo -n id -un; cat /proc/1/comm; hostname").stdout.split()
    assert out == ["kongops", "root", "systemd", "kong1.fleet.test"]
    # Its own filesystem: a file written on one host is not on another, nor on the controller.
    lab.ssh("kong1", "echo x > /tmp/only-on-kong1")
    assert lab.ssh("pg-main", "test -e /tmp/only-on-kong1", check=False).returncode == 1
    assert not (ROOT / "only-on-kong1").exists()
    # Kong from its line's repository only, installed, held, run by its unit; PostgreSQL and HAProxy by theirs.
    lists = lab.ssh("kong1", "ls /etc/apt/sources.list.d/").stdout.split()
    assert lists == ["kong-gateway-33.list"]
    assert lab.ssh("kong1", "dpkg-query -W -f='${Version} ${Status}' kong").stdout == "3.3.1 hold ok installed"
    assert lab.ssh("kong1", "systemctl is-active kong").stdout.strip() == "active"
    assert lab.ssh("pg-main", "systemctl is-active postgresql@15-main").stdout.strip() == "active"
    assert lab.ssh("lb1", "systemctl is-active haproxy").stdout.strip() == "active"
    # kong.conf holds the database password: not readable by the login user.
    assert lab.ssh("kong1", "cat /etc/kong/kong.conf", check=False).returncode != 0
    status = lab.status()
    assert status["kong1"]["package"] == {"name": "kong", "version": "3.3.1", "held": True}
    assert status["kong1"]["running_version"] == "3.3.1"


def test_down_removes_every_container(host_lab, tmp_path):
    lab = host_lab("dbless", "--nodes", "1", "--no-seed")
    ids = [h["container"] for h in lab.state["hosts"]]
    lab.ctl("down")
    for cid in ids:
        r = subprocess.run(["podman", "container", "exists", cid], env=image_mod.podman_env(), check=False)
        assert r.returncode == 1, "container %s still exists" % cid[:12]
    assert not lab.dir.exists()


def test_kong_started_outside_systemd_is_stopped_and_checked(host_lab):
    """systemd says the unit is inactive, yet Kong runs (started by hand): a quit must stop it, and say so."""
    lab = host_lab("traditional", "--nodes", "1", "--version", "3.3.1", "--no-seed")
    lab.ssh("kong1", "sudo -n systemctl stop kong && sudo -n kong start -c /etc/kong/kong.conf >/dev/null")
    assert lab.ssh("kong1", "systemctl is-active kong", check=False).stdout.strip() == "inactive"
    pid = int(lab.ssh("kong1", "sudo -n cat /usr/local/kong/pids/nginx.pid").stdout)
    proc = lab.adhoc("kong1", "kongops.upgrade.kong_service", "action=quit manager=systemd")
    assert '"outside_manager": true' in proc.stdout and '"changed": true' in proc.stdout, proc.stdout
    assert lab.ssh("kong1", "sudo -n kill -0 %d" % pid, check=False).returncode != 0, "Kong still runs after the quit"
    # Now stopped for real: a second quit has nothing to do.
    again = lab.adhoc("kong1", "kongops.upgrade.kong_service", "action=quit manager=systemd")
    assert '"changed": false' in again.stdout and '"was_running": false' in again.stdout, again.stdout


def test_state_saves_from_parallel_threads(tmp_path):
    """Hosts start in parallel and each records its container id: concurrent saves must neither fail nor tear lab.json."""
    lab = HostLab(str(tmp_path / "lab"))
    (tmp_path / "lab").mkdir()
    lab.state = {"hosts": [{"name": "h%d" % i} for i in range(8)]}
    errors = []

    def record(h):
        try:
            for n in range(40):
                h["container"] = "c%d" % n
                lab.save()
        except Exception as e:  # pylint: disable=broad-except
            errors.append(repr(e))

    threads = [threading.Thread(target=record, args=(h,)) for h in lab.state["hosts"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [h["container"] for h in json.loads((tmp_path / "lab" / "lab.json").read_text())["hosts"]] == ["c39"] * 8
