"""The Ansible inventory of a lab topology (``<lab>/inventory.yml``).

Groups: kong_traditional (dual-cluster: cluster X), kong_traditional_y (dual-cluster: cluster Y,
prepared but not installed or started), kong_dbless, kong_control_plane, kong_control_plane_y (hybrid
--dual-cp: the Y control plane, prepared), kong_data_plane,
kong_database, kong_load_balancer. Every group exists (empty ones have no hosts) so playbooks can
name them unconditionally.

The database password is not in the inventory: it is in ``<lab>/group_vars/all/secrets.yml``
(mode 0600), which Ansible loads automatically for an inventory in ``<lab>/`` (variable
``kong_pg_password``).
"""

import os

import yaml

GROUPS = ("kong_traditional", "kong_traditional_y", "kong_dbless", "kong_control_plane", "kong_control_plane_y",
          "kong_data_plane", "kong_database", "kong_load_balancer")


def build(lab):
    from lab.topology import ADMIN_PORT, BACKEND, CLUSTER_PORT, PROXY_PORT, STATUS_PORT
    st = lab.state
    groups = {g: {"hosts": {}} for g in GROUPS}
    for name, db in sorted(st["databases"].items()):
        groups["kong_database"]["hosts"][name] = {
            "ansible_host": db["host"],
            "kong_pg_host": db["host"],
            "kong_pg_port": db["port"],
            "kong_pg_database": db["database"],
            "kong_pg_user": db["user"],
            "kong_pg_superuser": db["superuser"],
            "kong_pg_socket_dir": db["socket_dir"],
            "kong_pg_bindir": db["bindir"],
            "kong_pg_bootstrapped": bool(db.get("bootstrap")),
        }
    cp = lab.control_plane()
    for n in st["nodes"]:
        d = lab.node_dir(n["name"])
        hv = {
            "ansible_host": n["address"],
            "kong_role": n["role"],
            "kong_node_dir": d,
            "kong_conf_path": os.path.join(d, "etc", "kong", "kong.conf"),
            "kong_prefix": os.path.join(d, "prefix"),
            "kong_bin": os.path.join(d, "bin", "kong"),
            "kong_status_url": "http://%s:%d" % (n["address"], STATUS_PORT),
            # installs/controls the release on this node: the role appends the version / the action
            "kong_install_command": [lab.p("bin", "kong-install"), d],
            "kong_service_command": [lab.p("bin", "kong-service"), d],
            # informative only: what the lab installed at 'up' (a role must read the node itself)
            "kong_lab_initial_version": st["version"] if n["start"] else None,
        }
        if n["role"] != "data_plane":  # no Admin API on data planes, no proxy on control planes (as in Kong)
            hv["kong_admin_url"] = "http://%s:%d" % (n["address"], ADMIN_PORT)
        if n["role"] != "control_plane":
            hv["kong_proxy_url"] = "http://%s:%d" % (n["address"], PROXY_PORT)
        if n["database"]:
            hv["kong_database_host"] = n["database"]
        if n["role"] == "dbless":
            hv["kong_declarative_config"] = os.path.join(d, "etc", "kong", "kong.yml")
        if n["role"] == "control_plane":
            hv["kong_cluster_listen"] = "%s:%d" % (n["address"], CLUSTER_PORT)
        if n["role"] == "data_plane" and cp:
            hv["kong_cluster_control_plane"] = "%s:%d" % (cp["address"], CLUSTER_PORT)
            hv["kong_control_plane_host"] = cp["name"]
        if n["in_lb"]:
            hv["kong_lb_host"] = "haproxy"
            hv["kong_lb_backend"] = BACKEND
            hv["kong_lb_server"] = n["name"]
        hv.update(role_vars(lab, n, d, cp))
        groups[n["group"]]["hosts"][n["name"]] = hv
    h = st["haproxy"]
    groups["kong_load_balancer"]["hosts"]["haproxy"] = {
        "ansible_host": h["host"],
        "haproxy_socket": lab.sock,
        "haproxy_config": h.get("config"),
        "haproxy_pid_file": h.get("pidfile"),
        "haproxy_backend": BACKEND,
        "haproxy_frontend_url": "http://%s:%d" % (h["host"], h["port"]),
    }
    for g in groups.values():
        if not g["hosts"]:
            del g["hosts"]
    e = st["echo"]
    return {"all": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": st["python"],
            "kong_lab_dir": lab.dir,
            "kong_lab_topology": st["topology"],
            "kong_lab_repo": lab.p("repo"),
            "kong_lab_versions_offered": list(st["offer"]),
            "kong_lab_echo_url": "http://%s:%d" % (e["host"], e["port"]),
            "kong_lab_load_url": "http://%s:%d/echo" % (h["host"], h["port"]),
            "kong_lab_lb_url": "http://%s:%d" % (h["host"], h["port"]),
        },
        "children": groups,
    }}


def role_vars(lab, n, d, cp):
    """The collection's role variables (kong_node_*, kong_lb_*) that make a play work on this lab as-is."""
    from lab.topology import ADMIN_PORT, BACKEND, PROXY_PORT, STATUS_PORT
    svc = lab.p("bin", "kong-service")
    v = {
        "kong_node_role": "traditional" if n["role"] == "dbless" else n["role"],
        "kong_node_bin": os.path.join(d, "bin", "kong"),
        "kong_node_conf_path": os.path.join(d, "etc", "kong", "kong.conf"),
        "kong_node_prefix": os.path.join(d, "prefix"),
        "kong_node_conf_mode": "0600",
        "kong_node_install_method": "command",
        "kong_node_install_command": [lab.p("bin", "kong-install"), d, "{{ kong_node_version }}"],
        "kong_install_check_command": [lab.p("bin", "kong-install"), "--check", "{{ preflight_install_version }}"],
        # the lab's release cache (its package repository): a kong of the target to validate declarative files with
        # before the roll, as an operator's staging copy
        "kong_target_kong_bin": os.path.join(lab.p("repo"), "{{ kong_target_version }}", "bin", "kong"),
        # the lab node's own filesystem: a DB-less run lock lives there, not in the machine's /var/lib
        "kong_upgrade_lock_dir": os.path.join(d, "var", "lib", "kongops"),
        "kong_node_service_manager": "command",
        "kong_node_service_commands": {a: [svc, d, a] for a in ("start", "stop", "quit", "restart", "status")},
        "kong_node_status_url": "http://%s:%d" % (n["address"], STATUS_PORT),
        "kong_node_admin_url": "" if n["role"] == "data_plane" else "http://%s:%d" % (n["address"], ADMIN_PORT),
        "kong_node_proxy_url": "" if n["role"] == "control_plane" else "http://%s:%d" % (n["address"], PROXY_PORT),
    }
    if n["role"] != "control_plane":
        v["kong_node_proxy_probe_path"] = "/echo"
    if n["role"] == "dbless":
        v["kong_node_declarative_config"] = os.path.join(d, "etc", "kong", "kong.yml")
    if n["role"] == "data_plane" and cp:
        v.update({"kong_node_cp_host": cp["name"], "kong_node_cp_admin_url": "http://%s:%d" % (cp["address"], ADMIN_PORT),
                  "kong_node_dp_identity_field": "ip", "kong_node_dp_identity": n["address"]})
    if n["in_lb"]:
        v.update({"kong_lb_driver": "haproxy", "kong_lb_backend": BACKEND, "kong_lb_server": n["name"],
                  "kong_lb_haproxy_socket": lab.sock})
    return v


def write(lab):
    doc = build(lab)
    path = lab.p("inventory.yml")
    header = ("# Ansible inventory of the kongops.upgrade lab (%s topology), written by 'labctl up'.\n"
              "# Secrets are in group_vars/all/secrets.yml (mode 0600), loaded automatically by Ansible.\n"
              % lab.state["topology"])
    with open(path + ".tmp", "w") as f:
        f.write(header)
        yaml.safe_dump(doc, f, sort_keys=False, default_flow_style=False)
    os.replace(path + ".tmp", path)
    secrets = lab.p("group_vars", "all", "secrets.yml")
    os.makedirs(os.path.dirname(secrets), exist_ok=True)
    fd = os.open(secrets + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# kongops lab secrets (mode 0600)\n")
        yaml.safe_dump({"kong_pg_password": lab.pg_password()}, f)
    os.replace(secrets + ".tmp", secrets)
    return path
