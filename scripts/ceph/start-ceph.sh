#!/usr/bin/env bash
# Start a throw-away single-node Ceph cluster (1 mon, 1 mgr (optional), 1 OSD)
# plus radosgw (beast) on 127.0.0.1, entirely as background processes (no systemd).
#
# Usage:  set -a; eval "$(scripts/ceph/start-ceph.sh)"; set +a   # exports S3_* into your shell
#         scripts/ceph/start-ceph.sh            # prints S3_* lines on stdout (also in $CEPH_BASE/s3.env)
#         scripts/ceph/start-ceph.sh --fresh    # always wipe and rebuild (empty cluster)
#         scripts/ceph/stop-ceph.sh [--wipe]    # stop exactly what start-ceph.sh started
#
# Idempotent: if the cluster recorded in the pid file is alive, of the same
# flavour, and S3 answers, it just prints the env lines again. Otherwise it
# stops whatever it had recorded (by pid), wipes the data directory and builds
# a fresh cluster.
#
# Env knobs (all optional):
#   CEPH_BASE      base dir                      (default: ${TMPDIR:-/tmp}/wharf-ceph)
#   CEPH_OBJSTORE  memstore | bluestore          (default: memstore)
#   CEPH_WITH_MGR  1 = also start ceph-mgr       (default: 0; rgw does not need it)
#   CEPH_S3_PORT   radosgw port on 127.0.0.1     (default: 7480)
#   CEPH_MON_PORT_V2 / CEPH_MON_PORT_V1          (default: 3300 / 6789)
#   MEMSTORE_BYTES memstore capacity             (default: 8 GiB; RAM is used only for data written)
#   BLUESTORE_BYTES sparse block file size       (default: 20 GiB)
#   CEPH_S3_ACCESS_KEY / CEPH_S3_SECRET_KEY      (default: fixed test keys below)
#   (deliberately not S3_*: those may already be exported for another server)
#
# Progress goes to stderr; only the S3_* lines go to stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${CEPH_BASE:-${TMPDIR:-/tmp}/wharf-ceph}"
D="$BASE/data"                 # wiped on every fresh start
PIDFILE="$BASE/pids"           # "<pid> <name>" per line
ENVFILE="$BASE/s3.env"
OBJSTORE="${CEPH_OBJSTORE:-memstore}"
[[ "$OBJSTORE" == memstore || "$OBJSTORE" == bluestore ]] || { echo "CEPH_OBJSTORE must be memstore or bluestore" >&2; exit 2; }
WITH_MGR="${CEPH_WITH_MGR:-0}"
S3_PORT="${CEPH_S3_PORT:-7480}"
MON_V2="${CEPH_MON_PORT_V2:-3300}"
MON_V1="${CEPH_MON_PORT_V1:-6789}"
MEMSTORE_BYTES="${MEMSTORE_BYTES:-$((8 * 1024 * 1024 * 1024))}"
BLUESTORE_BYTES="${BLUESTORE_BYTES:-$((20 * 1024 * 1024 * 1024))}"
ACCESS_KEY="${CEPH_S3_ACCESS_KEY:-OCITESTACCESSKEY0001}"
SECRET_KEY="${CEPH_S3_SECRET_KEY:-ocitestsecretkey0000000000000000000000001}"
REGION="us-east-1"
ENDPOINT="http://127.0.0.1:${S3_PORT}"

T0=$(date +%s.%N)
log() { printf '[start-ceph %6.2fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*" >&2; }

print_env() {
  cat "$ENVFILE"
}

s3_answers() {
  # anonymous GET / on rgw returns 200 + ListAllMyBucketsResult
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -q '^200$'
}

declare -A COMM=([mon.a]=ceph-mon [mgr.x]=ceph-mgr [osd.0]=ceph-osd [rgw.a]=radosgw)
all_recorded_alive() { # every recorded pid is alive, not a zombie, and still the expected daemon
  [[ -s "$PIDFILE" ]] || return 1
  local pid name comm state
  while read -r pid name; do
    [[ -n "$pid" ]] || continue
    comm="$(cat /proc/"$pid"/comm 2>/dev/null)" || return 1
    state="$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" || return 1
    [[ "$state" != Z && "$comm" == "${COMM[$name]:-$comm}" ]] || return 1
  done <"$PIDFILE"
  return 0
}

# ---------------------------------------------------------------- prerequisites
for bin in ceph ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool uuidgen curl jq ss; do
  command -v "$bin" >/dev/null || { log "ERROR: '$bin' not found. Install with:
  apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime curl jq iproute2"; exit 1; }
done

# ---------------------------------------------------------------- idempotency
FRESH=0
[[ "${1:-}" == "--fresh" ]] && FRESH=1
if (( FRESH == 0 )) && all_recorded_alive && [[ -s "$ENVFILE" ]] && s3_answers \
   && [[ "$(cat "$BASE/flavour" 2>/dev/null)" == "$OBJSTORE mgr=$WITH_MGR port=$S3_PORT" ]]; then
  log "cluster already running (pids: $(awk '{printf "%s ", $1}' "$PIDFILE")); reusing"
  print_env
  exit 0
fi

if [[ -s "$PIDFILE" ]]; then
  log "stopping previously recorded cluster (stale, different flavour, or --fresh)"
  "$HERE/stop-ceph.sh" >&2 || true
fi

# refuse to start if someone else already holds the ports
for p in "$S3_PORT" "$MON_V2" "$MON_V1"; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    log "ERROR: 127.0.0.1:$p is already in use by a process not recorded in $PIDFILE"
    exit 1
  fi
done

# ---------------------------------------------------------------- fresh tree
# on any failure below, stop whatever this run started (the pid file has it)
trap 'rc=$?; if (( rc != 0 )); then log "start failed (rc=$rc); logs in $D/log; stopping what was started"; "$HERE/stop-ceph.sh" >&2 || true; fi' EXIT
rm -rf "$D"
mkdir -p "$D"/{run,log,mon/ceph-a,mgr/ceph-x,osd/ceph-0,rgw,tmp}
: >"$PIDFILE"
FSID="$(uuidgen)"
CONF="$D/ceph.conf"
CEPH=(ceph -c "$CONF" --connect-timeout 10)

cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
public network = 127.0.0.1/32
cluster network = 127.0.0.1/32
ms bind ipv6 = false
ms bind port min = 6800
ms bind port max = 7300
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
crash dir = $D/crash
exporter sock dir = $D/run
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
# keep tiny-cluster health quiet
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mgr initial modules =

[mon]
mon data = $D/mon/\$cluster-\$id
mon cluster log file = $D/log/cluster.log
# every osdmap change (pool create / application enable, which rgw does ~10x at
# first start) otherwise waits for the 1 s default paxos propose interval
paxos propose interval = 0.05
paxos min wait = 0.01

[mgr]
mgr data = $D/mgr/\$cluster-\$id

[osd]
osd data = $D/osd/\$cluster-\$id
osd objectstore = $OBJSTORE
memstore device bytes = $MEMSTORE_BYTES
bluestore block create = true
bluestore block size = $BLUESTORE_BYTES
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
osd memory target = 1073741824
osd crush update on start = true

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT tcp_nodelay=1
rgw data = $D/rgw
rgw enable usage log = false
rgw gc obj min wait = 60
rgw gc processor period = 60
rgw thread pool size = 128
EOF

log "writing keyrings"
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n mgr.x \
  --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.rgw.a \
  --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null

start_daemon() { # name comm cmd...
  local name="$1" comm="$2"; shift 2
  # memstore keeps objects in buffers of the OSD's heap; with glibc's adaptive mmap threshold the
  # memory of deleted objects is never returned and a long test session grows the OSD by GiBs.
  # A fixed threshold keeps large buffers in mmap, which free() gives back.
  MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2 setsid "$@" -f </dev/null >>"$D/log/$name.out" 2>&1 &
  local pid=$!
  echo "$pid $name" >>"$PIDFILE"
  sleep 0.1
  if ! kill -0 "$pid" 2>/dev/null; then
    log "ERROR: $name died immediately; see $D/log/$name.out and $D/log/*.log"
    tail -20 "$D/log/$name.out" >&2 || true
    exit 1
  fi
  log "started $name pid=$pid ($(cat /proc/$pid/comm 2>/dev/null || echo '?'))"
}

wait_for() { # desc timeout_s cmd...
  local desc="$1" to="$2"; shift 2
  local deadline=$(( $(date +%s) + to ))
  until "$@" >/dev/null 2>&1; do
    if ! all_recorded_alive; then
      log "ERROR: a daemon died while waiting for $desc; see $D/log/"
      for f in "$D"/log/*.out; do echo "== $f" >&2; tail -n 5 "$f" >&2; done
      return 1
    fi
    if (( $(date +%s) >= deadline )); then
      log "ERROR: timed out after ${to}s waiting for $desc"
      return 1
    fi
    sleep 0.2
  done
  log "$desc: ok"
}

# ---------------------------------------------------------------- mon
log "mon mkfs"
monmaptool --create --clobber --fsid "$FSID" \
  --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$D/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
start_daemon mon.a ceph-mon ceph-mon -c "$CONF" -i a
wait_for "mon quorum" 60 "${CEPH[@]}" mon stat

# ---------------------------------------------------------------- mgr (optional)
if [[ "$WITH_MGR" == 1 ]]; then
  start_daemon mgr.x ceph-mgr ceph-mgr -c "$CONF" -i x
fi

# ---------------------------------------------------------------- osd
log "osd create ($OBJSTORE)"
OSD_UUID="$(uuidgen)"
OSD_KEY="$(ceph-authtool --gen-print-key)"
printf '{"cephx_secret": "%s"}\n' "$OSD_KEY" >"$D/osd/new.json"
OSD_ID="$("${CEPH[@]}" osd new "$OSD_UUID" -i "$D/osd/new.json")"
[[ "$OSD_ID" == 0 ]] || { log "ERROR: unexpected osd id '$OSD_ID'"; exit 1; }
ceph-authtool "$D/keyring" -n osd.0 --add-key "$OSD_KEY" >/dev/null
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd.0.mkfs.out" 2>&1 \
  || { log "ERROR: osd mkfs failed"; cat "$D/log/osd.0.mkfs.out" >&2; exit 1; }
start_daemon osd.0 ceph-osd ceph-osd -c "$CONF" -i 0
osd_up() { "${CEPH[@]}" osd dump -f json | jq -e '.osds[0].up == 1' ; }
wait_for "osd.0 up" 90 osd_up

# ---------------------------------------------------------------- rgw
start_daemon rgw.a radosgw radosgw -c "$CONF" -n client.rgw.a
wait_for "radosgw answering on $ENDPOINT" 120 s3_answers

log "creating S3 user"
radosgw-admin -c "$CONF" user create --uid=ocitest --display-name="OCI test user" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$D/log/user-create.json"

cat >"$ENVFILE" <<EOF
S3_ENDPOINT=$ENDPOINT
S3_ACCESS_KEY_ID=$ACCESS_KEY
S3_SECRET_ACCESS_KEY=$SECRET_KEY
S3_REGION=$REGION
EOF
echo "$OBJSTORE mgr=$WITH_MGR port=$S3_PORT" >"$BASE/flavour"
log "ready (pids: $(awk '{printf "%s=%s ", $2, $1}' "$PIDFILE"))"
print_env
