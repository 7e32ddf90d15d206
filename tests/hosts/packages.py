"""Kong's packages for the container hosts: a ``.deb`` per release the simulator knows, and one signed apt
repository per release line, laid out as Kong publishes them.

Packages (contract.md section 10; realhosts.md): ``kong`` (OSS, three-part versions) and
``kong-enterprise-edition`` (four-part), each with

    /usr/local/bin/kong                        the CLI (kongsim, the release baked in)
    /usr/local/openresty/nginx/sbin/nginx      what the unit's ExecStart runs (kongsim.nginx: foreground node)
    /usr/local/share/kongsim/kongsim/          the simulator's code (Kong's Lua tree lives in /usr/local/share/lua)
    /etc/kong/kong.conf.default                the packaged template
    /lib/systemd/system/<package>.service      Kong's unit: kong prepare, then nginx in the foreground, QUIT on stop
    /usr/local/kong/                           the default prefix

Repositories: ``<root>/public/gateway-<MM>/deb/debian`` with ``dists/bookworm/main/binary-<arch>/Packages`` and an
``InRelease`` signed by the lab's own key, as Kong's ``gateway-34`` (one per major.minor line) are; the OSS and
Enterprise packages of a line share its repository. Served over HTTP by :func:`serve`.
"""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KONGSIM_PKG = os.path.join(os.path.dirname(HERE), "kongsim", "kongsim")
SUITE = "bookworm"
COMPONENT = "main"

UNIT = """[Unit]
Description={description}
Documentation=https://docs.konghq.com/
After=syslog.target network.target remote-fs.target nss-lookup.target

[Service]
ExecStartPre=/usr/local/bin/kong prepare -p /usr/local/kong
ExecStart=/usr/local/openresty/nginx/sbin/nginx -p /usr/local/kong -c nginx.conf
ExecReload=/usr/local/bin/kong prepare -p /usr/local/kong
ExecReload=/usr/local/openresty/nginx/sbin/nginx -p /usr/local/kong -c nginx.conf -s reload
ExecStop=/bin/kill -s QUIT $MAINPID
PrivateTmp=true

# All environment variables prefixed with `KONG_` and capitalized will override
# the settings specified in the `/etc/kong/kong.conf.default` file.
Environment=KONG_NGINX_DAEMON=off

# Kong's unit also sets LimitNOFILE=infinity; the container hosts cannot raise that limit (no CAP_SYS_RESOURCE).

[Install]
WantedBy=multi-user.target
"""

KONG_CLI = """#!/bin/sh
# Kong Gateway {version} (the kongsim stand-in, packaged by tests/hosts/packages.py)
KONGSIM_RELEASE={version}
PYTHONPATH=/usr/local/share/kongsim
export KONGSIM_RELEASE PYTHONPATH
exec /usr/bin/python3 -m kongsim.cli "$@"
"""

NGINX = """#!/bin/sh
# OpenResty's nginx as Kong {version}'s unit runs it (the kongsim stand-in: kongsim.nginx)
KONGSIM_RELEASE={version}
PYTHONPATH=/usr/local/share/kongsim
export KONGSIM_RELEASE PYTHONPATH
exec /usr/bin/python3 -m kongsim.nginx "$@"
"""

CONF_DEFAULT = """# -----------------------
# Kong configuration file
# -----------------------
#
# The commented-out settings shown in this file represent the default values.
# Copy this file to /etc/kong/kong.conf and edit it.
#
#prefix = /usr/local/kong/
#log_level = notice
#proxy_listen = 0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384
#admin_listen = 127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384
#role = traditional
#cluster_listen = 0.0.0.0:8005
#cluster_control_plane = 127.0.0.1:8005
#database = postgres
#pg_host = 127.0.0.1
#pg_port = 5432
#pg_user = kong
#pg_password =
#pg_database = kong
#declarative_config =
"""


def edition(version):
    return "enterprise" if version.count(".") == 3 else "oss"


def package_name(version):
    return "kong-enterprise-edition" if edition(version) == "enterprise" else "kong"


def line_of(version):
    """Kong's repository line of a release: 3.4.2 and 3.4.3.3 -> 'gateway-34'."""
    major, minor = version.split(".")[:2]
    return "gateway-%s%s" % (major, minor)


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE, universal_newlines=True,
                          check=True).stdout.strip()


def source_digest():
    """Changes when the simulator or this file changes: the cache key of the built packages."""
    h = hashlib.sha256()
    for path in sorted(_sim_files()) + [os.path.abspath(__file__)]:
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _sim_files():
    return [os.path.join(KONGSIM_PKG, n) for n in os.listdir(KONGSIM_PKG) if n.endswith(".py")]


def _control(version, architecture, installed_kb):
    name = package_name(version)
    other = "kong" if name != "kong" else "kong-enterprise-edition"
    return ("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: kongops.upgrade tests <noreply@example.invalid>\n"
            "Installed-Size: {kb}\nDepends: python3, python3-psycopg, python3-yaml, openssl\nConflicts: {other}\n"
            "Replaces: {other}\nSection: net\nPriority: optional\nHomepage: https://konghq.com/\n"
            "Description: Kong Gateway {version} (kongsim stand-in)\n"
            " The Kong Gateway simulator of kongops.upgrade's tests, packaged and laid out as Kong's own package.\n"
            ).format(name=name, version=version, arch=architecture, kb=installed_kb, other=other)


def build_deb(version, out_dir, architecture=None):
    """Build ``<out_dir>/<package>_<version>_<arch>.deb`` with dpkg-deb; returns its path."""
    architecture = architecture or arch()
    name = package_name(version)
    path = os.path.join(out_dir, "%s_%s_%s.deb" % (name, version, architecture))
    if os.path.isfile(path):
        return path
    stage = path + ".d"
    shutil.rmtree(stage, ignore_errors=True)

    def put(rel, text, mode=0o644):
        full = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)

    put("usr/local/bin/kong", KONG_CLI.format(version=version), 0o755)
    put("usr/local/openresty/nginx/sbin/nginx", NGINX.format(version=version), 0o755)
    for src in sorted(_sim_files()):
        with open(src) as f:
            put(os.path.join("usr/local/share/kongsim/kongsim", os.path.basename(src)), f.read())
    put("etc/kong/kong.conf.default", CONF_DEFAULT)
    desc = "Kong Enterprise Edition" if name != "kong" else "Kong"
    put("lib/systemd/system/%s.service" % name, UNIT.format(description=desc))
    os.makedirs(os.path.join(stage, "usr/local/kong"), exist_ok=True)
    size_kb = sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(stage) for f in files) // 1024 + 1
    put("DEBIAN/control", _control(version, architecture, size_kb))
    tmp = path + ".tmp"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", stage, tmp], check=True,
                   stdout=subprocess.DEVNULL)
    os.replace(tmp, path)
    shutil.rmtree(stage)
    return path


def build_all(cache_dir, versions=None):
    """Every release (or ``versions``) as a .deb under ``<cache_dir>/debs-<digest>``; returns {version: path}."""
    sys.path.insert(0, os.path.dirname(KONGSIM_PKG))
    from kongsim import releases
    out = os.path.join(cache_dir, "debs-%s" % source_digest())
    os.makedirs(out, exist_ok=True)
    architecture = arch()
    return {v: build_deb(v, out, architecture) for v in (versions or releases.known_versions())}


# -- repositories -------------------------------------------------------------------------------------------------

def _deb_control(path):
    """The control paragraph of a .deb (ar archive -> control.tar.* -> ./control)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("%s: not a Debian package" % path)
    pos = 8
    while pos < len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        if name.startswith("control.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                member = tar.extractfile("./control")
                return member.read().decode()
        pos += 60 + size + (size % 2)
    raise ValueError("%s: no control.tar member" % path)


def write_repositories(debs, root, gpg_home, architecture=None):
    """One repository per release line under ``<root>/public/<line>/deb/debian``; returns {line: repo dir}."""
    architecture = architecture or arch()
    by_line = {}
    for version, deb in sorted(debs.items()):
        by_line.setdefault(line_of(version), []).append(deb)
    repos = {}
    for line, files in sorted(by_line.items()):
        base = os.path.join(root, "public", line, "deb", "debian")
        pool = os.path.join(base, "pool", COMPONENT)
        os.makedirs(pool, exist_ok=True)
        paragraphs = []
        for deb in files:
            dest = os.path.join(pool, os.path.basename(deb))
            if not os.path.isfile(dest):
                shutil.copyfile(deb, dest)
            with open(dest, "rb") as f:
                blob = f.read()
            paragraphs.append(_deb_control(dest).rstrip("\n") + "\nFilename: %s\nSize: %d\nMD5sum: %s\nSHA256: %s\n" % (
                os.path.relpath(dest, base), len(blob), hashlib.md5(blob).hexdigest(), hashlib.sha256(blob).hexdigest()))
        index_dir = os.path.join(base, "dists", SUITE, COMPONENT, "binary-%s" % architecture)
        os.makedirs(index_dir, exist_ok=True)
        packages = "\n".join(paragraphs).encode()
        with open(os.path.join(index_dir, "Packages"), "wb") as f:
            f.write(packages)
        with open(os.path.join(index_dir, "Packages.gz"), "wb") as f:
            f.write(gzip.compress(packages, mtime=0))
        _write_release(os.path.join(base, "dists", SUITE), architecture, gpg_home, line)
        repos[line] = base
    return repos


def _write_release(dist_dir, architecture, gpg_home, line):
    files = []
    for dirpath, _dirs, names in os.walk(dist_dir):
        for n in sorted(names):
            if n in ("Release", "InRelease", "Release.gpg"):
                continue
            full = os.path.join(dirpath, n)
            with open(full, "rb") as f:
                blob = f.read()
            files.append((os.path.relpath(full, dist_dir), len(blob), hashlib.md5(blob).hexdigest(),
                          hashlib.sha256(blob).hexdigest()))
    lines = ["Origin: kongops-lab", "Label: %s" % line, "Suite: %s" % SUITE, "Codename: %s" % SUITE,
             "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
             "Architectures: %s" % architecture, "Components: %s" % COMPONENT, "MD5Sum:"]
    lines += [" %s %d %s" % (md5, size, rel) for rel, size, md5, _sha in files]
    lines.append("SHA256:")
    lines += [" %s %d %s" % (sha, size, rel) for rel, size, _md5, sha in files]
    release = os.path.join(dist_dir, "Release")
    with open(release, "w") as f:
        f.write("\n".join(lines) + "\n")
    inrelease = os.path.join(dist_dir, "InRelease")
    if os.path.exists(inrelease):
        os.remove(inrelease)
    subprocess.run(["gpg", "--homedir", gpg_home, "--batch", "--yes", "--clearsign", "-o", inrelease, release], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_signing_key(gpg_home, public_key_path):
    """A passphrase-less signing key of the lab's repositories; its public key (ASCII-armoured, as Kong serves its
    repositories' keys) at public_key_path."""
    os.makedirs(gpg_home, mode=0o700, exist_ok=True)
    if not os.path.isfile(public_key_path):
        subprocess.run(["gpg", "--homedir", gpg_home, "--batch", "--passphrase", "", "--quick-gen-key",
                        "kongops lab repository <noreply@example.invalid>", "ed25519", "sign", "never"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(public_key_path + ".tmp", "wb") as f:
            subprocess.run(["gpg", "--homedir", gpg_home, "--batch", "--armor", "--export"], check=True, stdout=f)
        os.replace(public_key_path + ".tmp", public_key_path)
    return public_key_path


SERVER = """
import functools, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\\n" % (self.address_string(), fmt % args))
http.server.ThreadingHTTPServer.request_queue_size = 64
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), functools.partial(H, directory=sys.argv[3]))
srv.serve_forever()
"""


def serve(root, address, port, log_path):
    """Serve ``root`` over HTTP on address:port in a child process of its own session; returns the Popen."""
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, address, str(port), root], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    return proc
