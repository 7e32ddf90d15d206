"""The container hosts' base image: Debian 12 with systemd as PID 1, sshd, sudo, Python, PostgreSQL and HAProxy
from Debian's packages (realhosts.md). Built once per machine with debootstrap and imported into podman's local
storage as ``localhost/kongops-host:<recipe hash>``: a changed recipe gets a new tag, an unchanged one is reused.

What each host becomes (a Kong node, a PostgreSQL server, a load balancer) is decided when the lab starts it:
every service is disabled in the image, no PostgreSQL cluster exists, and sshd has no host keys yet.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINERS_CONF = os.path.join(HERE, "containers.conf")
NAME = "localhost/kongops-host"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# The simulator's Kong package depends on python3-psycopg, python3-yaml and openssl (tests/hosts/packages.py); they
# are in the image so that a node needs only the lab's Kong repositories, like a fleet behind an internal mirror.
PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "procps", "python3", "openssh-server", "sudo", "ca-certificates",
            "curl", "gnupg", "python3-psycopg", "python3-yaml", "openssl", "postgresql", "postgresql-client", "haproxy",
            "python3-apt"]
LOGIN_USER = "kongops"

# Runs inside the new root (chroot) once, after debootstrap.
SETUP = r"""set -eu
pg_dropcluster --stop 15 main 2>/dev/null || true
sed -i -E 's/^[#[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
grep -q '^create_main_cluster = false' /etc/postgresql-common/createcluster.conf
for unit in postgresql.service haproxy.service ssh.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
            fstrim.timer dpkg-db-backup.timer e2scrub_reap.service; do
    systemctl disable "$unit" >/dev/null 2>&1 || true
done
systemctl mask getty@tty1.service serial-getty@.service console-getty.service systemd-logind.service >/dev/null 2>&1 || true
useradd -m -s /bin/bash {user}
usermod -p '*' {user}   # no password, not locked: sshd without PAM refuses locked accounts
echo '{user} ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/{user}
chmod 0440 /etc/sudoers.d/{user}
# Debian's haproxy unit bind-mounts /dev/log into its chroot: a mount namespace, which these containers cannot make
# (status 226/NAMESPACE). The lab's haproxy.cfg has no chroot, so the bind is not needed.
mkdir -p /etc/systemd/system/haproxy.service.d
printf '[Service]\nBindReadOnlyPaths=\n' >/etc/systemd/system/haproxy.service.d/container.conf
rm -f /etc/ssh/ssh_host_*
printf 'UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n' >/etc/ssh/sshd_config.d/kongops.conf
# No Debian mirror on the hosts: each node gets only its Kong repositories (a fleet behind an internal mirror).
: >/etc/apt/sources.list
rm -f /etc/apt/sources.list.d/*
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /var/cache/debconf/*-old
""".replace("{user}", LOGIN_USER)


def podman_env():
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = CONTAINERS_CONF
    return env


def recipe_hash():
    h = hashlib.sha256()
    for part in (MIRROR, SUITE, " ".join(PACKAGES), SETUP, LOGIN_USER):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:12]


def tag():
    return "%s:%s" % (NAME, recipe_hash())


def exists(ref=None):
    return subprocess.run(["podman", "image", "exists", ref or tag()], env=podman_env(), check=False).returncode == 0


def build(work_dir=None, log=print):
    """Build and import the image unless it exists; returns its tag. Needs root, debootstrap and podman."""
    ref = tag()
    if exists(ref):
        return ref
    base = tempfile.mkdtemp(prefix="kongops-image.", dir=work_dir)
    root = os.path.join(base, "rootfs")
    try:
        log("building %s with debootstrap (about a minute)" % ref)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, root, MIRROR],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        script = os.path.join(root, "tmp", "kongops-setup.sh")
        with open(script, "w") as f:
            f.write(SETUP)
        subprocess.run(["chroot", root, "/bin/bash", "/tmp/kongops-setup.sh"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        os.remove(script)
        tar = subprocess.Popen(["tar", "-C", root, "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "-c", "."],
                               stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "-", ref], stdin=tar.stdout, check=True, env=podman_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError("tar of %s failed" % root)
    except subprocess.CalledProcessError as e:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(e.cmd[:3]), e.returncode,
                                                        (e.stderr or b"").decode(errors="replace")[-2000:])) from e
    finally:
        shutil.rmtree(base, ignore_errors=True)
    log("image %s ready" % ref)
    return ref
