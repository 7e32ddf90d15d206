#!/usr/bin/env bash
# The hybrid upgrade of a lab (tests/lab, topology hybrid) done by hand: the baseline of bench/overhead.py.
#
#   bench/hybrid_by_hand.sh LAB_DIR TARGET_VERSION [BATCH...]
#
# Runs the same steps, `kong` commands, waits and drains as playbooks/upgrade_hybrid.yml (in_place control plane, data
# planes rolling in batches), without Ansible, so that the playbook's time can be compared with the work itself:
#   preflight  every node's version read from the node (`kong version`), the migrations state (`kong migrations list`),
#              the control plane's entity counts (Admin API)
#   control    backup: pg_dump -Fd of its database, verified with pg_restore --list; kong.conf and prefix files
#   plane      (0600); `kong quit` (X's kong); install Y; `kong migrations up`, `kong migrations finish` (Y's kong,
#              the node's conf); start Y; health: Admin API /status, GET / reports Y, Status API /status/ready (3.3+),
#              the entity counts equal those of the preflight
#   data       in batches like Ansible's `serial` (default: 1 25%), the nodes of a batch in parallel; per node:
#   planes     version read; files backed up; drain at HAProxy and wait until no session is left; `kong quit`;
#              install Y; start Y; health: Status API /status/ready, the proxy answers /echo 200, the control plane
#              lists the node in sync (sync_status normal, version Y, the config hash of the data planes already on Y,
#              not the empty one); ready at HAProxy. A failed batch stops the roll.
# Every wait polls like the roles' `until` loops: retry every 2 s (drain: every 0.5 s), 30 tries.
# Prints one line per phase with its wall time; exit 0 when every node runs TARGET_VERSION.
set -euo pipefail

[ "$#" -ge 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
LAB="$(cd "$1" && pwd)"
TARGET="$2"
shift 2
BATCHES=("$@")
[ "${#BATCHES[@]}" -gt 0 ] || BATCHES=(1 25%)
PY="${KONGOPS_BENCH_PYTHON:-python3}"
RETRIES=30
DELAY=2
BACKUP="$LAB/backups-by-hand/$(date -u +%Y%m%dT%H%M%SZ)"

# The lab's description: node names, roles and addresses, database, HAProxy.
lab_get() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$LAB/lab.json" "$1"; }
CP=$(lab_get '[n["name"] for n in d["nodes"] if n["role"] == "control_plane"][0]')
CP_ADDR=$(lab_get '[n["address"] for n in d["nodes"] if n["role"] == "control_plane"][0]')
mapfile -t DPS < <(lab_get '"\n".join(n["name"] for n in d["nodes"] if n["role"] == "data_plane")')
HA_SOCK=$(lab_get 'd["haproxy"]["socket"]')
HA_BACKEND=$(lab_get 'd["haproxy"]["backend"]')
PG_DB=$(lab_get '[n["database"] for n in d["nodes"] if n["role"] == "control_plane"][0]')
PG_HOST=$(lab_get "d['databases']['$PG_DB']['host']")
PG_PORT=$(lab_get "d['databases']['$PG_DB']['port']")
PG_NAME=$(lab_get "d['databases']['$PG_DB']['database']")
PG_USER=$(lab_get "d['databases']['$PG_DB']['user']")
PG_BIN=$(lab_get "d['databases']['$PG_DB']['bindir']")
# The password from the lab's secrets file (0600), into the environment only: never on a command line.
PGPASSWORD=$(sed -n 's/^kong_pg_password: *//p' "$LAB/group_vars/all/secrets.yml" | tr -d "\"'")
export PGPASSWORD
ADMIN="http://$CP_ADDR:8001"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
phase_start=$(now)
phase() { local t; t=$(now); awk -v n="$1" -v a="$phase_start" -v b="$t" 'BEGIN { printf "phase %-28s %8.2f s\n", n, b - a }'; phase_start=$t; }

node_dir() { echo "$LAB/nodes/$1"; }
addr_of() { lab_get "[n['address'] for n in d['nodes'] if n['name'] == '$1'][0]"; }
svc() { "$LAB/bin/kong-service" "$(node_dir "$1")" "${@:2}" >/dev/null; }
kinstall() { "$LAB/bin/kong-install" "$(node_dir "$1")" "$2" >/dev/null; }

# retry CMD...: run CMD until it succeeds, RETRIES times, DELAY s apart (an Ansible `until` loop).
retry() {
    local i
    for ((i = 0; i <= RETRIES; i++)); do
        if "$@"; then return 0; fi
        sleep "$DELAY"
    done
    return 1
}
http_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1")" = 200 ]; }

haproxy() {
    "$PY" -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())' "$HA_SOCK" "$1"
}
sessions() { haproxy "show stat" | awk -F, -v b="$HA_BACKEND" -v s="$1" '$1 == b && $2 == s { print $5 }'; }
drain() {
    local i
    haproxy "set server $HA_BACKEND/$1 state drain" >/dev/null
    for ((i = 0; i < 120; i++)); do
        [ "$(sessions "$1")" = 0 ] && return 0
        sleep 0.5
    done
    log "$1: sessions left after 60 s of drain (going on, as the role does)"
}

# Entity counts of the control plane (the role compares them before and after).
entity_counts() {
    local e out=""
    for e in services routes plugins consumers upstreams certificates; do
        out="$out $e=$(curl -sf --max-time 5 "$ADMIN/$e?size=1000" | jq '.data | length')"
    done
    echo "$out"
}
dp_rows() { curl -sf --max-time 5 "$ADMIN/clustering/data-planes"; }

backup_files() {
    local name=$1 dir f
    dir="$(node_dir "$name")"
    for f in "$dir/etc/kong/kong.conf" "$dir/prefix/.kong_env" "$dir/prefix/nginx.conf" "$dir/prefix/nginx-kong.conf"; do
        [ -e "$f" ] || continue
        mkdir -p "$BACKUP/$name$(dirname "$f")"
        cp "$f" "$BACKUP/$name$f"
        chmod 0600 "$BACKUP/$name$f"
    done
}

# --- preflight ---------------------------------------------------------------------------------------
umask 077
mkdir -p "$BACKUP"
for n in "$CP" "${DPS[@]}"; do
    v=$("$(node_dir "$n")/bin/kong" version)
    [ -n "$v" ] || die "$n: cannot read the version"
done
rc=0
"$(node_dir "$CP")/bin/kong" migrations list -c "$(node_dir "$CP")/etc/kong/kong.conf" >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 5 ] || die "migrations list exit $rc (pending migrations of a previous upgrade?)"
counts_before=$(entity_counts)
phase preflight

# --- control plane, in place -------------------------------------------------------------------------
cpdir="$(node_dir "$CP")"
"$PG_BIN/pg_dump" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_NAME" -Fd -j 2 -f "$BACKUP/database" -w
"$PG_BIN/pg_restore" --list "$BACKUP/database" >/dev/null
backup_files "$CP"
phase cp-backup
svc "$CP" quit
kinstall "$CP" "$TARGET"
"$cpdir/bin/kong" migrations up -c "$cpdir/etc/kong/kong.conf" >/dev/null
"$cpdir/bin/kong" migrations finish -c "$cpdir/etc/kong/kong.conf" >/dev/null
svc "$CP" start
retry http_ok "$ADMIN/status" || die "control plane Admin API"
[ "$(curl -sf "$ADMIN/" | jq -r .version)" = "$TARGET" ] || die "control plane does not report $TARGET"
retry http_ok "http://$CP_ADDR:8007/status/ready" || die "control plane not ready"
[ "$(entity_counts)" = "$counts_before" ] || die "control plane entity counts changed: $(entity_counts) vs $counts_before"
phase cp-upgrade

# --- data planes, rolling ----------------------------------------------------------------------------
dp_in_sync() {  # name address expected_hash
    local row
    row=$(dp_rows | jq -c --arg ip "$2" '[.data[] | select(.ip == $ip)] | sort_by(.last_seen) | last // {}')
    [ "$(jq -r .sync_status <<<"$row")" = normal ] || return 1
    [ "$(jq -r .version <<<"$row")" = "$TARGET" ] || return 1
    local h
    h=$(jq -r .config_hash <<<"$row")
    [ -n "$h" ] && [ "$h" != 00000000000000000000000000000000 ] || return 1
    [ -z "$3" ] || [ "$h" = "$3" ]
}
# A data plane that has just connected is listed as normal with the empty configuration's hash until its config
# arrives: such a row is no reference.
expected_hash() {
    dp_rows | jq -r --arg v "$TARGET" --arg ip "$1" \
        '[.data[] | select(.version == $v and .sync_status == "normal" and .ip != $ip and .config_hash != "00000000000000000000000000000000")]
         | sort_by(.last_seen) | last | .config_hash // ""'
}
roll_one() {
    local name=$1 dir addr h
    dir="$(node_dir "$name")"
    addr=$(addr_of "$name")
    "$dir/bin/kong" version >/dev/null
    backup_files "$name"
    drain "$name"
    svc "$name" quit
    kinstall "$name" "$TARGET"
    svc "$name" start
    h=$(expected_hash "$addr")
    retry http_ok "http://$addr:8007/status/ready" || { log "$name: not ready"; return 1; }
    retry http_ok "http://$addr:8000/echo" || { log "$name: proxy does not answer"; return 1; }
    retry dp_in_sync "$name" "$addr" "$h" || { log "$name: not in sync at the control plane"; return 1; }
    haproxy "set server $HA_BACKEND/$name state ready" >/dev/null
}

# Batch sizes as Ansible's serial computes them: "P%" of all hosts (at least 1), the last size repeats.
n=${#DPS[@]}
i=0
b=0
while [ "$i" -lt "$n" ]; do
    spec=${BATCHES[$((b < ${#BATCHES[@]} ? b : ${#BATCHES[@]} - 1))]}
    if [[ "$spec" == *% ]]; then size=$(( ${spec%\%} * n / 100 )); [ "$size" -ge 1 ] || size=1; else size=$spec; fi
    pids=()
    for name in "${DPS[@]:i:size}"; do
        roll_one "$name" & pids+=($!)
    done
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ "$failed" = 0 ] || die "batch $((b + 1)) failed: the roll stops here"
    phase "dp-batch-$((b + 1)) ($(( size < n - i ? size : n - i )) nodes)"
    i=$((i + size))
    b=$((b + 1))
done
log "every node runs $TARGET"
