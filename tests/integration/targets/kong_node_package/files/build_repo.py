"""Build a flat APT repository of stand-in ``kong`` packages for the kong_node package-install test.

    build_repo.py REPO KONG_ROOT VERSION...

Each package is built with dpkg-deb like Kong's own: package ``kong``, version = the release number,
``/usr/local/bin/kong`` (here the simulator's wrapper for that release) and
``/etc/kong/kong.conf.default``. REPO gets the .deb files and a ``Packages`` index (what
``dpkg-scanpackages`` writes), so ``deb [trusted=yes] file:REPO ./`` works without dpkg-dev.
"""

import hashlib
import os
import shutil
import subprocess
import sys


def build(repo, kong_root, version):
    stage = os.path.join(repo, "build", version)
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "DEBIAN"))
    os.makedirs(os.path.join(stage, "usr", "local", "bin"))
    os.makedirs(os.path.join(stage, "etc", "kong"))
    shutil.copy(os.path.join(kong_root, version, "bin", "kong"), os.path.join(stage, "usr", "local", "bin", "kong"))
    os.chmod(os.path.join(stage, "usr", "local", "bin", "kong"), 0o755)
    with open(os.path.join(stage, "etc", "kong", "kong.conf.default"), "w") as f:
        f.write("# Kong %s default configuration (test package)\n" % version)
    with open(os.path.join(stage, "DEBIAN", "control"), "w") as f:
        f.write("Package: kong\nVersion: %s\nArchitecture: all\nMaintainer: kongops.upgrade tests <tests@example.invalid>\n"
                "Description: Kong Gateway %s (kongops.upgrade test stand-in)\n" % (version, version))
    deb = os.path.join(repo, "kong_%s_all.deb" % version)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", stage, deb], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(stage)
    return deb


def index_entry(repo, deb):
    control = subprocess.run(["dpkg-deb", "--field", deb], check=True, stdout=subprocess.PIPE, text=True).stdout.rstrip("\n")
    with open(deb, "rb") as f:
        data = f.read()
    return "%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n" % (control, os.path.relpath(deb, repo), len(data), hashlib.sha256(data).hexdigest())


def main(argv):
    repo, kong_root, versions = argv[0], argv[1], argv[2:]
    os.makedirs(repo, exist_ok=True)
    entries = [index_entry(repo, build(repo, kong_root, v)) for v in versions]
    with open(os.path.join(repo, "Packages"), "w") as f:
        f.write("\n".join(entries))
    shutil.rmtree(os.path.join(repo, "build"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
