#!/usr/bin/env bash
# bench-load.sh: feed loads side by side, the base commit (A) against the
# working tree (B), best of RUNS, alternating A and B so that both see the
# same machine.
#
# It builds bin/intel from BASE (default: the merge base with main) in a
# temporary git worktree and from the working tree, starts a throw-away
# local PostgreSQL (intel local start in a temporary state directory), and
# for each feed set loads A and B alternately into fresh databases (each
# binary migrates its own). Per run it records the wall time of
# `intel ingest feeds`, the client's CPU (user+sys), the server's CPU (the
# CPU of the backends that exited, from the postmaster's cutime+cstime:
# Linux) and a digest of every column of nodes, node_aliases, relations,
# pending_relations and relation_records (first/last seen of rows without
# times of their own, which are the load time, left out), and one of the
# identity tables (node_entities, ambiguous_aliases: migration 00018) where
# the build has them. It prints the best of RUNS per side, the ratio A/B,
# and whether the dumps are identical (the identity dumps among the builds
# that have them); it fails when they are not.
#
# Feed sets (from ../shared/corpus, skipped when absent):
#   enterprise  an ATT&CK-shaped synthetic of enterprise-attack's size and
#               object count (24,771 objects, ~46 MB) made from
#               ics-attack-18.1.json by scripts/synthattack (enterprise
#               itself is not on the benchmark machine)
#   attack      ics-attack-18.1.json and mobile-attack-1.0.json as they are
#   unit42      the Unit 42 playbooks (stix/unit42)
#   misp-eset   the ESET MISP events (misp/eset)
#
# Environment: BASE (git ref), RUNS (default 3), SETS (default all four),
# CORPUS (default ../shared/corpus), CONCURRENCY (feeds at once, default 1).
#
#   make bench-load
#   RUNS=5 SETS="enterprise" scripts/bench-load.sh
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"
RUNS=${RUNS:-3}
SETS=${SETS:-"enterprise attack unit42 misp-eset"}
CORPUS=${CORPUS:-../shared/corpus}
CONCURRENCY=${CONCURRENCY:-1}
BASE=${BASE:-$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD)}

need() { command -v "$1" >/dev/null || { echo "bench-load: $1 not found" >&2; exit 1; }; }
need psql
[ -d "$CORPUS" ] || { echo "bench-load: no corpus at $CORPUS (set CORPUS)" >&2; exit 1; }
CORPUS=$(cd "$CORPUS" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-load.XXXXXX")
STATE=$WORK/state
chmod 755 "$WORK" # as root the server runs as postgres or nobody: it must reach its state directory
A=$WORK/intel-a
B=$WORK/intel-b
cleanup() {
	INTEL_STATE_DIR=$STATE "$B" local stop >/dev/null 2>&1 || true
	git worktree remove --force "$WORK/base" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench-load: A = $(git rev-parse --short "$BASE") (base), B = working tree of $(git rev-parse --short HEAD)"
git worktree add --detach "$WORK/base" "$BASE" >/dev/null 2>&1
(cd "$WORK/base" && go build -o "$A" ./cmd/intel)
go build -o "$B" ./cmd/intel

URL=$(INTEL_STATE_DIR=$STATE "$B" local start)
export PGPASSFILE=$STATE/pgpass
SERVER=${URL%%/intel\?*}
PM=$(head -1 "$STATE/pgdata/postmaster.pid")
psql_admin() { psql -qAt "$SERVER/postgres?sslmode=disable" "$@"; }

# feed lists, one per set: every feed loaded with `intel ingest feeds`.
feedlist() { # name format files...
	local name=$1 format=$2
	shift 2
	[ $# -gt 0 ] || return 1
	{
		echo "feeds:"
		for f in "$@"; do
			printf '  - name: %s\n    path: %s\n    format: %s\n' "$(basename "$f" .json)" "$f" "$format"
		done
	} >"$WORK/$name.yaml"
}
for set in $SETS; do
	case $set in
	enterprise)
		ics=$CORPUS/stix/mitre-attack/ics-attack-18.1.json
		[ -f "$ics" ] || continue
		go run ./scripts/synthattack -in "$ics" -objects 24771 -out "$WORK/enterprise-synth.json"
		feedlist enterprise stix "$WORK/enterprise-synth.json" ;;
	attack) feedlist attack stix "$CORPUS"/stix/mitre-attack/*.json || true ;;
	unit42) feedlist unit42 stix "$CORPUS"/stix/unit42/*.json || true ;;
	misp-eset) feedlist misp-eset misp "$CORPUS"/misp/eset/*.json || true ;;
	*) echo "bench-load: unknown set $set" >&2; exit 2 ;;
	esac
done

dump_sql="
SELECT id, kind, key, name, props, labels, confidence, tlp, CASE WHEN timed THEN first_seen END,
       CASE WHEN timed THEN last_seen END, sources, name_rank, props_rank, props_key_ranks, timed FROM nodes ORDER BY id;
SELECT source_id, node_id, source FROM node_aliases ORDER BY source_id;
SELECT src_id, relation, dst_id, confidence, CASE WHEN timed THEN first_seen END, CASE WHEN timed THEN last_seen END,
       sources, props, props_rank, props_key_ranks, timed FROM relations ORDER BY 1, 2, 3;
SELECT src_ref, relation, dst_ref, confidence, CASE WHEN timed THEN first_seen END, CASE WHEN timed THEN last_seen END,
       sources, props, props_rank, props_key_ranks, timed FROM pending_relations ORDER BY 1, 2, 3;
SELECT src_ref, relation, dst_ref, src_id, dst_id, confidence, CASE WHEN timed THEN first_seen END,
       CASE WHEN timed THEN last_seen END, sources, props, props_rank, props_key_ranks, timed FROM relation_records ORDER BY 1, 2, 3;"

identity_sql="
SELECT node_id, entity_id, reason FROM node_entities ORDER BY 1;
SELECT alias FROM ambiguous_aliases ORDER BY 1;"

server_cpu() { awk '{print $16 + $17}' "/proc/$PM/stat"; } # ticks of exited backends

# one BIN SET RUN: prints "wall client server digest identity-digest
# wal=MB parked=N" (the identity digest "-" when the build has no identity
# tables).
one() {
	local bin=$1 set=$2 db="bench_$2_$3" c0 c1 wall user sys
	db=${db//-/_}
	psql_admin -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
	local url="$SERVER/$db?sslmode=disable&passfile=$PGPASSFILE"
	"$bin" --database-url "$url" --log-level error migrate up >/dev/null
	psql_admin -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
	c0=$(server_cpu)
	/usr/bin/env time -o "$WORK/time" -f "%e %U %S" "$bin" --database-url "$url" --log-level error \
		ingest feeds "$WORK/$set.yaml" --concurrency "$CONCURRENCY" --format json >"$WORK/report-$db.json" 2>"$WORK/err-$db" || true
	# The postmaster counts a backend's CPU once it has exited: wait for them.
	for _ in $(seq 1 100); do
		[ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'")" = 0 ] && break
		sleep 0.1
	done
	sleep 0.1
	c1=$(server_cpu)
	wal=$(psql_admin -c "SELECT round(wal_bytes / 1048576.0, 1) FROM pg_stat_wal")
	read -r wall user sys <"$WORK/time"
	digest=$(psql -qAt "$url" -c "$dump_sql" | sha256sum | cut -c1-16)
	identity=-
	if [ -n "$(psql -qAt "$url" -c "SELECT to_regclass('node_entities')")" ]; then
		identity=$(psql -qAt "$url" -c "$identity_sql" | sha256sum | cut -c1-16)
	fi
	# Work that does not depend on the machine's load: WAL written (the
	# server is this script's own) and relations parked by the store.
	parked=$(grep -o '"relations_pending": *[0-9]*' "$WORK/report-$db.json" | awk -F: '{n += $2} END {print n + 0}')
	psql_admin -c "DROP DATABASE $db"
	echo "$wall $(echo "$user + $sys" | bc) $(echo "scale=2; ($c1 - $c0) / $(getconf CLK_TCK)" | bc) $digest $identity wal=${wal}MB parked=$parked"
}

best() { sort -g | head -1; }
status=0
printf '%-11s %4s  %-28s %-28s %s\n' set runs "A wall/client/server s" "B wall/client/server s" "A/B wall  server  dumps"
for set in $SETS; do
	[ -f "$WORK/$set.yaml" ] || { echo "bench-load: $set: no feeds in $CORPUS, skipped" >&2; continue; }
	: >"$WORK/$set.a"
	: >"$WORK/$set.b"
	for run in $(seq 1 "$RUNS"); do
		echo "$(one "$A" "$set" "a$run") load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/$set.a" | sed "s/^/  $set A run $run: /" >&2
		echo "$(one "$B" "$set" "b$run") load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/$set.b" | sed "s/^/  $set B run $run: /" >&2
	done
	aw=$(cut -d' ' -f1 "$WORK/$set.a" | best); bw=$(cut -d' ' -f1 "$WORK/$set.b" | best)
	ac=$(cut -d' ' -f2 "$WORK/$set.a" | best); bc_=$(cut -d' ' -f2 "$WORK/$set.b" | best)
	as=$(cut -d' ' -f3 "$WORK/$set.a" | best); bs=$(cut -d' ' -f3 "$WORK/$set.b" | best)
	digests=$(cut -d' ' -f4 "$WORK/$set.a" "$WORK/$set.b" | sort -u | wc -l)
	identities=$(cut -d' ' -f5 "$WORK/$set.a" "$WORK/$set.b" | grep -v '^-$' | sort -u | wc -l)
	same=identical
	if grep -q ' -$' <(cut -d' ' -f1-5 "$WORK/$set.a" "$WORK/$set.b"); then
		same="$same (identity tables: one side only)"
	else
		same="$same (identity tables too)"
	fi
	if [ "$digests" -ne 1 ] || [ "$identities" -gt 1 ]; then
		same=DIFFER
		status=1
	fi
	printf '%-11s %4s  %-28s %-28s %5.2fx %6.2fx  %s\n' "$set" "$RUNS" "$aw / $ac / $as" "$bw / $bc_ / $bs" \
		"$(echo "scale=4; $aw / $bw" | bc)" "$(echo "scale=4; $as / $bs" | bc)" "$same"
	work() { grep -o "$1=[0-9.]*" "$2" | cut -d= -f2 | best; }
	printf '%-11s       least WAL A %s MB, B %s MB; least parked A %s, B %s\n' "" \
		"$(work wal "$WORK/$set.a")" "$(work wal "$WORK/$set.b")" "$(work parked "$WORK/$set.a")" "$(work parked "$WORK/$set.b")"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
