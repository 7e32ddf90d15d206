"""Container hosts for the upgrade tests: systemd containers reached over SSH, Kong installed from .deb packages.

Run it as ``tests/hosts/hostctl`` (see tests/hosts/README.md).
"""
