#!/usr/bin/env bash
# The reference SU (permaweb/ao servers/su) beside ours, on this machine, by hand (not CI).
#
#   scripts/reference-su.sh build   AO_CHECKOUT   build the reference SU (once; ~40 min niced on 2 busy cores)
#   scripts/reference-su.sh start   AO_CHECKOUT   start our arweave-local and the reference SU
#   scripts/reference-su.sh router  AO_CHECKOUT   also a reference router in front of it (Postgres)
#   scripts/reference-su.sh capture               record its HTTP answers in tests/fixtures/reference-su/
#   scripts/reference-su.sh bench   AO_CHECKOUT   su/benches/assign.rs against it, then against our su
#   scripts/reference-su.sh cu      AO_CHECKOUT   our CU and MU with it: spawn, messages, results, the crank (checks)
#   scripts/reference-su.sh stop                  stop everything start, router, bench and cu started
#
# Needs curl and jq. AO_CHECKOUT is a clone of https://github.com/permaweb/ao (servers/su is built;
# nothing of it is copied here). What start sets up, in $REF_DIR (default .ao-data/ref-su):
# - our arweave-local on $REF_GATEWAY_PORT: the reference's gateway (ARWEAVE_URL, GRAPHQL_URL,
#   ARWEAVE_URL_LIST), upload node (UPLOAD_NODE_URL) and upload cache (CACHE_URL), so it sends
#   nothing off this machine;
# - an RSA-4096 wallet (the reference signs with RSA only: a 512-byte public key or it exits);
# - its IP whitelist (IP_WHITELIST_URL): a JSON list ["127.0.0.1"] stored as a data item on the
#   gateway; every POST must carry `X-Real-IP: 127.0.0.1` (no header: 400, unknown IP: 403);
# - USE_LOCAL_STORE=true (RocksDB only, no Postgres), ENABLE_PROCESS_ASSIGNMENT=true (without it a
#   spawn on the local store is refused), WARMUP_DELAY=0 (default: 30 s of 503 after start);
# - the reference SU on $REF_SU_PORT (it binds 0.0.0.0; only loopback is used).
# router adds what gives 307s: a private Postgres cluster (Debian's postgresql-15, run as the
# postgres user in $REF_DIR/pg, loopback port $REF_PG_PORT) and a second reference binary in
# MODE=router on $REF_ROUTER_PORT with SCHEDULER_LIST_PATH naming the SU; it answers every request
# for a process with a 307 to the SU that holds it (the router needs Postgres: its local store has
# no router tables).
#
# Environment: REF_DIR, REF_SU_PORT (9300), REF_GATEWAY_PORT (9301), OUR_SU_PORT (9302, bench),
# REF_ROUTER_PORT (9303), REF_PG_PORT (9304), PG_BIN (/usr/lib/postgresql/15/bin),
# REF_SU_TARGET (cargo target dir of the reference build, default $AO_CACHE/ref-su-target),
# CARGO_TARGET_DIR (ours, default $AO_CACHE/target), AO_CACHE (~/.cache/ao-rs),
# BENCH_CLIENTS (16), BENCH_RSA_ITEMS (3000), BENCH_PROCESSES (1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AO_CACHE:-$HOME/.cache/ao-rs}
ours=${CARGO_TARGET_DIR:-$cache/target}
ref_target=${REF_SU_TARGET:-$cache/ref-su-target}
dir=${REF_DIR:-$root/.ao-data/ref-su}
su_port=${REF_SU_PORT:-9300}
gw_port=${REF_GATEWAY_PORT:-9301}
our_port=${OUR_SU_PORT:-9302}
router_port=${REF_ROUTER_PORT:-9303}
pg_port=${REF_PG_PORT:-9304}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
router_url=http://127.0.0.1:$router_port
su_url=http://127.0.0.1:$su_port
gw_url=http://127.0.0.1:$gw_port
# The address the reference's whitelist lists and every POST names in X-Real-IP.
real_ip=127.0.0.1
# How long a server may take to answer after start (the reference's first start opens two RocksDBs).
start_deadline=60

say() { echo "reference-su: $*" >&2; }
die() { say "$*"; exit 1; }

# Poll URL until it answers 200 or the deadline passes (no fixed sleeps).
wait_http() {
  local url=$1 pid=$2 deadline=$((SECONDS + start_deadline))
  until curl -sf -o /dev/null "$url"; do
    kill -0 "$pid" 2>/dev/null || die "the server for $url exited; see its log in $dir"
    ((SECONDS < deadline)) || die "$url did not answer in ${start_deadline}s"
    sleep 0.2
  done
}

checkout_arg() {
  [ $# -ge 1 ] || die "give the path of a permaweb/ao checkout"
  [ -f "$1/servers/su/Cargo.toml" ] || die "$1/servers/su/Cargo.toml not found: not a permaweb/ao checkout"
  (cd "$1" && pwd)
}

ref_bin() { echo "$ref_target/release/su"; }

build_ref() {
  local ao=$1
  if [ -x "$(ref_bin)" ]; then say "reference SU already built: $(ref_bin)"; return; fi
  say "building the reference SU into $ref_target (linked to Debian's RocksDB; niced)"
  local t0=$SECONDS
  # Its Cargo.lock pins time 0.3.29, which no longer compiles on Rust >= 1.80 (E0282 in
  # format_description); 0.3.36 is the smallest release that does. This changes the checkout's
  # lock file only, nothing of its code.
  if grep -A1 '^name = "time"$' "$ao/servers/su/Cargo.lock" | grep -q '^version = "0\.3\.\(2[0-9]\|3[0-5]\)"$'; then
    say "updating its time crate to 0.3.36 (0.3.29 does not build on current Rust)"
    (cd "$ao/servers/su" && cargo update -p time --precise 0.3.36)
  fi
  # Linked to Debian's RocksDB 7.8 (ROCKSDB_LIB_DIR) instead of compiling the C++ of the 8.10 its
  # rocksdb 0.22 bundles. The bindings come from the bundled 8.10 header (with Debian's header the
  # crate does not compile: 40 functions missing); every function the SU calls exists in 7.8 but
  # one, the write buffer manager's destructor, named by Options' drop glue although nothing can
  # create a manager (its constructors are missing from 7.8 too, and the link would fail if any
  # were called). A two-line C shim gives that symbol, aborting if ever reached; it is passed to
  # the final link only (cargo rustc), so no dependency is rebuilt for it.
  mkdir -p "$ref_target/shim"
  cat >"$ref_target/shim/rocksdb_shim.c" <<'EOF'
#include <stdlib.h>
void rocksdb_write_buffer_manager_destroy(void *manager) { (void)manager; abort(); }
EOF
  cc -O2 -fPIC -c "$ref_target/shim/rocksdb_shim.c" -o "$ref_target/shim/rocksdb_shim.o"
  (cd "$ao/servers/su" &&
    env -u ROCKSDB_STATIC -u ROCKSDB_INCLUDE_DIR ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu \
      CARGO_TARGET_DIR="$ref_target" nice -n 15 cargo rustc --release --bin su -- \
      -C link-arg="$ref_target/shim/rocksdb_shim.o")
  say "built in $((SECONDS - t0)) s: $(ref_bin)"
}

build_ours() {
  if [ -x "$ours/release/arweave-local" ] && [ -x "$ours/release/su" ] && [ -x "$ours/release/ao" ]; then return; fi
  say "building our arweave-local, su and ao into $ours"
  (cd "$root" && CARGO_TARGET_DIR="$ours" cargo build --release -p ao-arweave --bin arweave-local \
    -p ao-su --bin su -p ao-cli --bin ao)
}

ao() { "$ours/release/ao" "$@"; }

start_gateway() {
  if [ -f "$dir/gateway.pid" ] && kill -0 "$(cat "$dir/gateway.pid")" 2>/dev/null; then return; fi
  mkdir -p "$dir"
  "$ours/release/arweave-local" --data-dir "$dir/gateway" --http-addr "127.0.0.1:$gw_port" \
    >"$dir/gateway.out" 2>"$dir/gateway.log" &
  echo $! >"$dir/gateway.pid"
  wait_http "$gw_url/info" "$!"
  say "arweave-local at $gw_url (pid $(cat "$dir/gateway.pid"))"
}

# The whitelist JSON the reference fetches at start and every 30 s, as a data item on the gateway.
whitelist_url() {
  if [ ! -f "$dir/whitelist.id" ]; then
    printf '["%s"]' "$real_ip" >"$dir/whitelist.json"
    ao item sign --wallet "$dir/wallet.json" --tag Content-Type=application/json \
      --data "$dir/whitelist.json" --out "$dir/whitelist.bin" >"$dir/whitelist.id"
    curl -sf --data-binary @"$dir/whitelist.bin" "$gw_url/tx" >/dev/null || die "the gateway refused the whitelist item"
  fi
  echo "$gw_url/raw/$(cat "$dir/whitelist.id")"
}

start_ref() {
  local ao=$1
  [ -x "$(ref_bin)" ] || build_ref "$ao"
  build_ours
  mkdir -p "$dir/ref"
  if [ -f "$dir/ref.pid" ] && kill -0 "$(cat "$dir/ref.pid")" 2>/dev/null; then
    say "already running: $su_url (pid $(cat "$dir/ref.pid"))"; return
  fi
  [ -f "$dir/wallet.json" ] || ao wallet new --kind arweave --out "$dir/wallet.json" >/dev/null
  start_gateway
  local wl
  wl=$(whitelist_url)
  # Its configuration, written as the .env it reads from its working directory (dotenv).
  cat >"$dir/ref/.env" <<EOF
MODE=su
SU_WALLET_PATH=$dir/wallet.json
USE_LOCAL_STORE=true
SU_FILE_DB_DIR=$dir/ref/files
SU_INDEX_DB_DIR=$dir/ref/index
DATABASE_URL=postgres://unused/su
SCHEDULER_LIST_PATH=
GATEWAY_URL=$gw_url
ARWEAVE_URL=$gw_url
GRAPHQL_URL=$gw_url
ARWEAVE_URL_LIST=$gw_url
UPLOAD_NODE_URL=$gw_url
CACHE_URL=$gw_url
IP_WHITELIST_URL=$wl
ENABLE_PROCESS_ASSIGNMENT=true
WARMUP_DELAY=0
URL=$su_url
EOF
  (cd "$dir/ref" && exec "$(ref_bin)" su "$su_port" >"$dir/ref.out" 2>"$dir/ref.log") &
  echo $! >"$dir/ref.pid"
  wait_http "$su_url/" "$!"
  echo "$su_url" >"$dir/ref.url"
  say "reference SU at $su_url (pid $(cat "$dir/ref.pid")), $(curl -s "$su_url/")"
  echo "{\"su\":\"$su_url\",\"gateway\":\"$gw_url\",\"x_real_ip\":\"$real_ip\",\"pid\":$(cat "$dir/ref.pid")}"
}

# As the postgres user when run as root (initdb and postgres refuse root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_router() {
  local ao=$1
  start_ref "$ao" >/dev/null
  if [ -f "$dir/router.pid" ] && kill -0 "$(cat "$dir/router.pid")" 2>/dev/null; then
    say "router already running: $router_url"; return
  fi
  if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
    mkdir -p "$dir/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir/pg"; fi
    as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust >"$dir/pg/initdb.log"
  fi
  if ! as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
      -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='su'" |
    grep -q 1 || as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres su
  mkdir -p "$dir/router"
  printf '[{"url": "%s"}]' "$su_url" >"$dir/router/schedulers.json"
  sed -e '/^MODE=/d' -e '/^USE_LOCAL_STORE=/d' -e '/^SU_FILE_DB_DIR=/d' -e '/^SU_INDEX_DB_DIR=/d' \
    -e '/^DATABASE_URL=/d' -e '/^SCHEDULER_LIST_PATH=/d' -e '/^URL=/d' "$dir/ref/.env" >"$dir/router/.env"
  {
    echo "MODE=router"
    echo "USE_LOCAL_STORE=false"
    echo "DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/su"
    echo "SCHEDULER_LIST_PATH=$dir/router/schedulers.json"
    echo "URL=$router_url"
    echo "DB_WRITE_CONNECTIONS=2"
    echo "DB_READ_CONNECTIONS=2"
  } >>"$dir/router/.env"
  (cd "$dir/router" && exec "$(ref_bin)" router "$router_port" >"$dir/router.out" 2>"$dir/router.log") &
  echo $! >"$dir/router.pid"
  wait_http "$router_url/health" "$!"
  say "reference router at $router_url (pid $(cat "$dir/router.pid")) in front of $su_url"
}

stop_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$f"
}

stop_all() {
  stop_pidfile "$dir/router.pid"
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  stop_pidfile "$dir/ours.pid"
  stop_pidfile "$dir/mu.pid"
  stop_pidfile "$dir/cu.pid"
  stop_pidfile "$dir/ref.pid"
  stop_pidfile "$dir/gateway.pid"
  say "stopped"
}

# One HTTP answer saved as NAME.json (the body) and a line of answers.tsv (name, method, path, status,
# Location), with this machine's URLs replaced by {su} and {gateway} so the files do not name ports.
fixtures=$root/tests/fixtures/reference-su
record() { record_at "$su_url" "$@"; }
record_at() {
  local base=$1 name=$2 method=$3 path=$4; shift 4
  local hdr body status loc
  hdr=$(mktemp) body=$(mktemp)
  status=$(curl -s -o "$body" -D "$hdr" -w '%{http_code}' -X "$method" "$@" "$base$path")
  loc=$(sed -n 's/^[Ll]ocation: *//p' "$hdr" | tr -d '\r')
  sed -e "s#$su_url#{su}#g" -e "s#$router_url#{router}#g" -e "s#$gw_url#{gateway}#g" "$body" >"$fixtures/$name.json"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$method" "$path" "$status" "${loc//$su_url/\{su\}}" >>"$fixtures/answers.tsv"
  rm -f "$hdr" "$body"
  say "$name: $method $base$path -> $status"
}

# Spawn a process on the running reference SU, send it 5 messages, record what it answers.
capture() {
  [ -f "$dir/ref.pid" ] && kill -0 "$(cat "$dir/ref.pid")" 2>/dev/null || die "not running: scripts/reference-su.sh start AO_CHECKOUT first"
  local w=$dir/wallet.json tmp address module pid msgs=() i id router=""
  if [ -f "$dir/router.pid" ] && kill -0 "$(cat "$dir/router.pid")" 2>/dev/null; then router=$router_url; fi
  tmp=$(mktemp -d)
  address=$(curl -sf "$su_url/" | jq -r .address)
  [ -n "$address" ] || die "no address in GET / of $su_url"
  mkdir -p "$fixtures"
  rm -f "$fixtures"/*.json "$fixtures/answers.tsv" "$fixtures"/*.bin
  printf 'name\tmethod\tpath\tstatus\tlocation\n' >"$fixtures/answers.tsv"
  # A module item on the gateway (the SU does not load it; the process only names it).
  printf 'not a real module' >"$tmp/module.data"
  module=$(ao item sign --wallet "$w" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Module \
    --tag Module-Format=wasm32-unknown-emscripten2 --tag Input-Encoding=JSON-1 --tag Output-Encoding=JSON-1 \
    --data "$tmp/module.data" --out "$tmp/module.bin")
  curl -sf --data-binary @"$tmp/module.bin" "$gw_url/tx" >/dev/null
  pid=$(ao item sign --wallet "$w" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Process \
    --tag Module="$module" --tag Scheduler="$address" --tag Name=reference-su-capture --out "$fixtures/process.bin")
  record spawn-no-real-ip POST / --data-binary @"$fixtures/process.bin"
  record spawn-unlisted-ip POST / -H 'X-Real-IP: 10.9.9.9' --data-binary @"$fixtures/process.bin"
  # Through the router first when it runs: it answers 307 to the SU and remembers the process.
  if [ -n "$router" ]; then
    record_at "$router_url" router-spawn POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/process.bin"
  fi
  record spawn POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/process.bin"
  for i in 1 2 3 4 5; do
    printf 'return %s + 1' "$i" >"$tmp/code$i.lua"
    id=$(ao item sign --wallet "$w" --target "$pid" --tag Data-Protocol=ao --tag Variant=ao.TN.1 \
      --tag Type=Message --tag Action=Eval --data "$tmp/code$i.lua" --out "$fixtures/message-$i.bin")
    msgs+=("$id")
    record "message-$i-post" POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/message-$i.bin"
  done
  record message-1-again POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/message-1.bin"
  # An ed25519 item: the reference verifies RSA and Ethereum signatures only.
  ao wallet new --kind ed25519 --out "$tmp/ed.json" >/dev/null
  ao item sign --wallet "$tmp/ed.json" --target "$pid" --tag Data-Protocol=ao --tag Variant=ao.TN.1 \
    --tag Type=Message --tag Action=Eval --data "$tmp/code1.lua" --out "$fixtures/message-ed25519.bin" >/dev/null
  record message-ed25519-post POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/message-ed25519.bin"
  record root GET /
  record timestamp GET /timestamp
  record process GET "/processes/$pid"
  record latest GET "/$pid/latest"
  for i in 1 2 3 4 5; do
    record "message-$i" GET "/${msgs[$((i - 1))]}?process-id=$pid"
  done
  record process-as-message GET "/$pid?process-id=$pid&limit=1&from=0&to=0"
  # The schedule in pages of 2, following each page's last cursor until has_next_page is false.
  local from="" page=1 json next
  while ((page <= 10)); do
    record "page-$page" GET "/$pid?process-id=$pid&limit=2${from:+&from=$from}"
    json=$fixtures/page-$page.json
    next=$(jq -r 'if .page_info.has_next_page then .edges[-1].cursor else "" end' "$json")
    [ -n "$next" ] || break
    from=$next page=$((page + 1))
  done
  # from/to by timestamp: the 2nd message's assignment Timestamp to the 4th's, to show which ends
  # are included (the POST's answer has another timestamp: the time of answering).
  local t2 t4
  t2=$(jq -r '.assignment.tags[] | select(.name == "Timestamp") | .value' "$fixtures/message-2.json")
  t4=$(jq -r '.assignment.tags[] | select(.name == "Timestamp") | .value' "$fixtures/message-4.json")
  record range-t2-t4 GET "/$pid?process-id=$pid&from=$t2&to=$t4"
  record range-nonce-2-4 GET "/$pid?process-id=$pid&from-nonce=2&to-nonce=4"
  record schedule-no-process-id GET "/$pid"
  record unknown-message GET "/${msgs[0]:0:42}A?process-id=$pid"
  record unknown-process GET "/processes/${pid:0:42}A"
  if [ -n "$router" ]; then
    printf 'return 6 + 1' >"$tmp/code6.lua"
    ao item sign --wallet "$w" --target "$pid" --tag Data-Protocol=ao --tag Variant=ao.TN.1 \
      --tag Type=Message --tag Action=Eval --data "$tmp/code6.lua" --out "$fixtures/message-6.bin" >/dev/null
    record_at "$router_url" router-message-post POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/message-6.bin"
    record_at "$router_url" router-schedule GET "/$pid?process-id=$pid&limit=2"
    record_at "$router_url" router-message GET "/${msgs[0]}?process-id=$pid"
    record_at "$router_url" router-process GET "/processes/$pid"
    record_at "$router_url" router-latest GET "/$pid/latest"
    record_at "$router_url" router-timestamp GET "/timestamp?process-id=$pid"
    record_at "$router_url" router-root GET /
    record_at "$router_url" router-root-process GET "/?process-id=$pid"
    record_at "$router_url" router-unknown-process GET "/processes/${pid:0:42}A"
  fi
  # A second process spawned twice, then sent one message: what a repeated spawn does.
  local dup
  dup=$(ao item sign --wallet "$w" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Process \
    --tag Module="$module" --tag Scheduler="$address" --tag Name=reference-su-duplicate --out "$fixtures/duplicate-process.bin")
  record duplicate-spawn POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/duplicate-process.bin"
  record duplicate-spawn-again POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/duplicate-process.bin"
  ao item sign --wallet "$w" --target "$dup" --tag Data-Protocol=ao --tag Variant=ao.TN.1 \
    --tag Type=Message --tag Action=Eval --data "$tmp/code1.lua" --out "$fixtures/duplicate-message.bin" >/dev/null
  record duplicate-message-post POST / -H "X-Real-IP: $real_ip" --data-binary @"$fixtures/duplicate-message.bin"
  record duplicate-schedule GET "/$dup?process-id=$dup"
  echo "$dup" >"$fixtures/duplicate-process-id.txt"
  echo "$pid" >"$fixtures/process-id.txt"
  rm -rf "$tmp"
  say "recorded $(($(wc -l <"$fixtures/answers.tsv") - 1)) answers in $fixtures (process $pid)"
}

# Start our su binary on the same gateway: ed25519 (its default) or with the reference's RSA wallet.
start_ours() {
  local kind=$1
  build_ours
  start_gateway
  rm -rf "$dir/ours"
  mkdir -p "$dir/ours"
  local wallet_flag=()
  [ "$kind" = rsa ] && wallet_flag=(--wallet "$dir/wallet.json")
  "$ours/release/su" --data-dir "$dir/ours" --http-addr "127.0.0.1:$our_port" --grpc-addr 127.0.0.1:0 \
    --gateway-url "$gw_url" "${wallet_flag[@]}" >"$dir/ours.out" 2>"$dir/ours.log" &
  echo $! >"$dir/ours.pid"
  wait_http "http://127.0.0.1:$our_port/health" "$!"
  # Writes answer 503 until the block height is known.
  local deadline=$((SECONDS + start_deadline))
  until curl -sf -o /dev/null "http://127.0.0.1:$our_port/timestamp"; do
    ((SECONDS < deadline)) || die "our su has no block height after ${start_deadline}s"
    sleep 0.2
  done
}

# su/benches/assign.rs against one SU: the same RSA-4096 items, clients and count for each.
bench_one() {
  local label=$1 url=$2 pid=$3
  say "bench: $label"
  (cd "$root" && env SU_URL="$url" SU_REAL_IP=$real_ip SU_PID="$pid" KINDS=RSA-4096 \
    RSA_ITEMS=${BENCH_RSA_ITEMS:-3000} CLIENTS=${BENCH_CLIENTS:-16} PROCESSES=${BENCH_PROCESSES:-1} \
    SECONDS=${BENCH_SECONDS:-600} CARGO_TARGET_DIR="$ours" cargo bench -q -p ao-su --bench assign) |
    sed -n '/^| RSA/p' | sed "s/^/| $label /"
}

bench() {
  local ao=$1
  echo "| SU | items | processes | clients | assignments | per second | p50 ms | p99 ms | SU peak RSS MiB | SU RSS after MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  stop_all >/dev/null 2>&1
  rm -rf "$dir/ref/files" "$dir/ref/index"
  start_ref "$ao" >/dev/null
  bench_one "reference (RSA-4096 key)" "$su_url" "$(cat "$dir/ref.pid")"
  stop_pidfile "$dir/ref.pid"
  start_ours rsa
  bench_one "ao-rs su (RSA-4096 key)" "http://127.0.0.1:$our_port" "$(cat "$dir/ours.pid")"
  stop_pidfile "$dir/ours.pid"
  start_ours ed25519
  bench_one "ao-rs su (ed25519 key, its default)" "http://127.0.0.1:$our_port" "$(cat "$dir/ours.pid")"
  stop_all >/dev/null 2>&1
}

# Our CU and MU with the reference SU: what issue 18 asks to try by hand, reproduced end to end.
# Everything is signed RSA-4096 (the reference verifies RSA and Ethereum only) and on loopback.
cu_port=${REF_CU_PORT:-9305}
mu_port=${REF_MU_PORT:-9307}
cu_url=http://127.0.0.1:$cu_port
mu_url=http://127.0.0.1:$mu_port
# The user: the test-only RSA wallet of the shared fixtures (never a real key).
user_wallet=${REF_USER_WALLET:-${AO_FIXTURES:-$root/../shared/fixtures/ans104}/TEST-ONLY-throwaway-wallets/arweave-rsa4096.TEST-ONLY.jwk.json}
# A URL where no SU answers, given to our CU as --su-url so that only the gateway's
# Scheduler-Location can lead it to the reference SU.
wrong_su_url=http://127.0.0.1:9
# How long a check polls before it is a failure (the first evaluation loads the Lua module).
check_deadline=120
failures=0

check() {
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}

# POST an item file to the reference SU, as an MU behind its whitelist would.
post_su() { curl -s -w '\n%{http_code}' -H "X-Real-IP: $real_ip" --data-binary @"$1" "$su_url/"; }

# Sign a message to $pid as the user: ACTION, DATA (a string), OUT.
sign_message() {
  local action=$1 data=$2 out=$3
  printf '%s' "$data" >"$out.data"
  ao item sign --wallet "$user_wallet" --target "$pid" --anchor "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | head -c 32)" \
    --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Message --tag Action="$action" \
    --data "$out.data" --out "$out"
}

# GET URL until it answers 200 (the CU answers 202 while it evaluates), within the deadline.
poll_200() {
  local url=$1 out=$2 deadline=$((SECONDS + check_deadline)) code
  while ((SECONDS < deadline)); do
    code=$(curl -s -o "$out" -w '%{http_code}' "$url") || code=000
    [ "$code" = 200 ] && return 0
    sleep 0.5
  done
  say "no 200 from $url in ${check_deadline}s (last: $code $(head -c 300 "$out" 2>/dev/null))"
  return 1
}

# Poll until COMMAND succeeds, within the deadline.
poll_until() {
  local deadline=$((SECONDS + check_deadline))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# jq -e FILTER on standard input, false on empty input (jq 1.6 -e answers true to no input).
jq_true() {
  local json
  json=$(cat)
  [ -n "$json" ] && jq -e "$@" >/dev/null <<<"$json"
}

# FILE's result has Output data V (an Eval's returned value as aos prints it).
output_is() { jq_true --arg v "$2" '(.Output.data | if type == "object" then .output else . end | tostring) == $v' <"$1"; }

in_schedule() { # MESSAGE-ID: the reference SU's schedule of $pid lists it
  curl -sf "$su_url/$pid?process-id=$pid&limit=1000" | jq_true --arg id "$1" 'any(.edges[]; .node.message.id == $id)'
}
pushed_echo_in_schedule() { # a message with Action Echo from the MU's wallet, pushed by its crank
  curl -sf "$su_url/$pid?process-id=$pid&limit=1000" | jq_true --arg mu "$mu_address" \
    'any(.edges[]; .node.message.owner.address == $mu and any(.node.message.tags[]; .name == "Action" and .value == "Echo"))'
}

start_cu_mu() {
  mkdir -p "$dir/cu" "$dir/mu"
  "$ours/release/cu" --data-dir "$dir/cu" --http-addr "127.0.0.1:$cu_port" --grpc-addr "127.0.0.1:$((cu_port + 1))" \
    --gateway-url "$gw_url" --su-url "$wrong_su_url" >"$dir/cu.out" 2>"$dir/cu.log" &
  echo $! >"$dir/cu.pid"
  wait_http "$cu_url/health" "$!"
  say "our cu at $cu_url (pid $(cat "$dir/cu.pid")), --su-url $wrong_su_url (nothing there)"
  "$ours/release/mu" --data-dir "$dir/mu" --http-addr "127.0.0.1:$mu_port" --grpc-addr "127.0.0.1:$((mu_port + 1))" \
    --admin-addr "127.0.0.1:$((mu_port + 2))" --gateway-url "$gw_url" --cu-url "http://127.0.0.1:$((cu_port + 1))" \
    --wallet "$dir/mu-wallet.json" --su-forwarded-ip "$real_ip" >"$dir/mu.out" 2>"$dir/mu.log" &
  echo $! >"$dir/mu.pid"
  wait_http "$mu_url/health" "$!"
  say "our mu at $mu_url (pid $(cat "$dir/mu.pid")), --su-forwarded-ip $real_ip"
}

ours_with_ref() {
  local ao_checkout=$1 address module tmp loc_id id eval1 add ping follow via_mu self r pid2 eval2
  [ -f "$user_wallet" ] || die "no user wallet at $user_wallet (set AO_FIXTURES or REF_USER_WALLET)"
  for b in cu mu ao arweave-local; do [ -x "$ours/release/$b" ] || die "build ours first: cargo build --release -p ao-cu -p ao-mu -p ao-cli -p ao-arweave --bins"; done
  start_ref "$ao_checkout" >/dev/null
  tmp=$dir/byhand
  stop_pidfile "$dir/mu.pid"
  stop_pidfile "$dir/cu.pid"
  rm -rf "$tmp" "$dir/cu" "$dir/mu"
  mkdir -p "$tmp"
  address=$(curl -sf "$su_url/" | jq -r .address)
  say "reference SU $su_url, address $address; user $(ao wallet address "$user_wallet") (RSA-4096)"

  # 1. Our Lua module on the gateway, as ao devnet publishes it (its tags, its wasm).
  module=$(ao item sign --wallet "$user_wallet" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Module \
    --tag Module-Format=wasm32-unknown-emscripten2 --tag Input-Encoding=JSON-1 --tag Output-Encoding=JSON-1 \
    --tag Memory-Limit=500-mb --tag Compute-Limit=9000000000000 --tag Content-Type=application/wasm \
    --tag "Name=ao-rs Lua" --data "$root/modules/lua/dist/process.wasm" --out "$tmp/module.bin")
  curl -sf --data-binary @"$tmp/module.bin" "$gw_url/tx" >/dev/null || die "the gateway refused the module"
  say "module $module on the gateway"
  # The reference SU's Scheduler-Location (it publishes none itself): signed by its wallet, Url
  # only (no Grpc-Url: our units then speak the AO HTTP API to it).
  loc_id=$(ao item sign --wallet "$dir/wallet.json" --tag Data-Protocol=ao --tag Type=Scheduler-Location \
    --tag Variant=ao.TN.1 --tag Url="$su_url" --tag Time-To-Live=3600000 --out "$tmp/location.bin")
  curl -sf --data-binary @"$tmp/location.bin" "$gw_url/tx" >/dev/null || die "the gateway refused the Scheduler-Location"
  say "Scheduler-Location $loc_id: $address at $su_url"
  # The MU's wallet is the process's Authority, so the process trusts what the MU's crank pushes.
  # It is secp256k1: the reference verifies RSA and Ethereum items only, and the MU needs a key
  # that signs deterministically (ed25519 or secp256k1). Its AO address (sha256 of its key, the
  # Owner address SUs give its pushes; not the 0x address) is what the MU reports on /health.
  [ -f "$dir/mu-wallet.json" ] || ao wallet new --kind ethereum --out "$dir/mu-wallet.json" >/dev/null
  start_cu_mu
  mu_address=$(curl -sf "$mu_url/health" | jq -r .address)
  say "the MU's address (the process's Authority): $mu_address"
  printf '1984' >"$tmp/process.data"
  pid=$(ao item sign --wallet "$user_wallet" --tag Name=byhand --tag Authority="$mu_address" \
    --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Process --tag Module="$module" \
    --tag Scheduler="$address" --tag Content-Type=text/plain --data "$tmp/process.data" --out "$tmp/process.bin")
  r=$(post_su "$tmp/process.bin")
  say "spawn $pid on the reference SU: $(echo "$r" | tr '\n' ' ')"
  check "spawn on the reference SU answers 200" test "$(echo "$r" | tail -1)" = 200
  eval1=$(sign_message Eval 'return 1+1' "$tmp/eval1.bin")
  add=$(sign_message Eval "$(cat <<'LUA'
Handlers.add("ping", "Ping", function(msg) msg.reply({ Action = "Pong", Data = "pong: " .. tostring(msg.Data) }) end)
Handlers.add("self", "Self-Send", function(msg) Send({ Target = ao.id, Action = "Echo", Data = "from myself" }) end)
Handlers.add("echo", "Echo", function(msg) Echoes = (Echoes or 0) + 1; EchoFrom = msg.From end)
return "handlers added"
LUA
)" "$tmp/add.bin")
  ping=$(sign_message Ping hello "$tmp/ping.bin")
  for m in eval1 add ping; do
    r=$(post_su "$tmp/$m.bin")
    check "message $m (${!m}) scheduled on the reference SU" test "$(echo "$r" | tail -1)" = 200
  done

  # 2. Our CU (started above with the MU), told of no SU that answers: it finds the reference SU
  # by the Scheduler-Location.
  check "CU /result of the Eval 'return 1+1' is 2" \
    eval 'poll_200 "$cu_url/result/$eval1?process-id=$pid" "$tmp/r-eval1.json" && output_is "$tmp/r-eval1.json" 2'
  check "CU /result of the handler add has no Error" \
    eval 'poll_200 "$cu_url/result/$add?process-id=$pid" "$tmp/r-add.json" && jq -e ".Error == null or .Error == \"\"" "$tmp/r-add.json" >/dev/null'
  check "CU /result of Ping: the handler replies Pong to the user" \
    eval 'poll_200 "$cu_url/result/$ping?process-id=$pid" "$tmp/r-ping.json" && jq -e "any(.Messages[]; .Data == \"pong: hello\" and any(.Tags[]; .name == \"Action\" and .value == \"Pong\"))" "$tmp/r-ping.json" >/dev/null'
  check "CU /results/{pid} lists the 3 messages (and the spawn)" \
    eval 'curl -sf "$cu_url/results/$pid?limit=100" >"$tmp/results.json" && jq -e ".edges | length >= 3" "$tmp/results.json" >/dev/null'
  check "CU /dry-run Eval 'return 40+2' gives 42" \
    eval 'ao dryrun "$pid" --wallet "$user_wallet" --cu-url "$cu_url" --mu-url "$mu_url" --action Eval --data "return 40+2" >"$tmp/dry.json" && output_is "$tmp/dry.json" 42'
  check "CU /state/{pid} serves the process memory" \
    eval 'curl -sf -o "$tmp/state.bin" "$cu_url/state/$pid" && test "$(stat -c %s "$tmp/state.bin")" -gt 1000000'
  follow=$(sign_message Eval 'return "followed"' "$tmp/follow.bin")
  r=$(post_su "$tmp/follow.bin")
  check "one more message ($follow) scheduled on the reference SU" test "$(echo "$r" | tail -1)" = 200
  check "CU follows the reference SU: the new message's result appears in /results unasked" \
    poll_until eval 'curl -sf "$cu_url/results/$pid?sort=DESC&limit=5" | grep -q "followed"'

  # 3. Our MU in front: the user's item forwarded as is, with X-Real-IP, and the crank's pushes.
  via_mu=$(ao send "$pid" --wallet "$user_wallet" --mu-url "$mu_url" --cu-url "$cu_url" --action Ping --data "via the MU" --wait >"$tmp/via-mu.txt" 2>"$tmp/via-mu.err"; head -1 "$tmp/via-mu.txt")
  say "ao send through our MU: $via_mu"
  check "MU forwarded the user's message to the reference SU" poll_until in_schedule "$via_mu"
  check "its result via our CU: the handler replies 'pong: via the MU'" \
    eval 'poll_200 "$cu_url/result/$via_mu?process-id=$pid" "$tmp/r-via-mu.json" && jq -e "any(.Messages[]; .Data == \"pong: via the MU\")" "$tmp/r-via-mu.json" >/dev/null'
  # The handler's Pong goes to the user's wallet: the MU uploads such messages to the gateway.
  check "MU uploaded the Pong to the user's wallet to the gateway" \
    poll_until eval 'curl -sf "$mu_url/trace/$via_mu" >"$tmp/trace-via-mu.json" && id=$(jq -er "first(.children[] | select(.state == \"computed\") | .id)" "$tmp/trace-via-mu.json") && curl -sf -o /dev/null "$gw_url/raw/$id"'
  self=$(ao send "$pid" --wallet "$user_wallet" --mu-url "$mu_url" --cu-url "$cu_url" --action Self-Send >"$tmp/self.txt" 2>"$tmp/self.err"; head -1 "$tmp/self.txt")
  say "Self-Send through our MU: $self"
  # The crank's push: its state in the MU's trace of the Self-Send, once it settles.
  check "MU's crank made a push for the process's Send to itself" \
    poll_until eval 'curl -sf "$mu_url/trace/$self" >"$tmp/trace.json" && jq_true "any(.children[]; .from_process == \"$pid\" and (.state == \"computed\" or .state == \"dead-letter\" or .state == \"failed\"))" <"$tmp/trace.json"'
  if pushed_echo_in_schedule; then
    check "MU's crank pushed it onto the reference SU" true
    check "the pushed Echo was evaluated: Echoes = 1, From = the process" \
      poll_until eval 'ao dryrun "$pid" --wallet "$user_wallet" --cu-url "$cu_url" --mu-url "$mu_url" --action Eval --data "return tostring(Echoes) .. \" \" .. tostring(EchoFrom)" >"$tmp/echo.json" 2>/dev/null && output_is "$tmp/echo.json" "1 $pid"'
  elif jq_true 'any(.children[]; .state == "dead-letter" and (.error | test("Signature verification failed")))' <"$tmp/trace.json" 2>/dev/null; then
    # The reference verifies RSA and Ethereum signatures only: an MU with an ed25519 wallet (an
    # older mu-wallet.json in $REF_DIR) is refused here; remove it to get a secp256k1 one.
    check "MU's crank pushed it onto the reference SU (refused: is the MU's wallet ed25519?)" false
  else
    check "MU's crank pushed it onto the reference SU" false
    say "the MU's trace of $self: $(cat "$tmp/trace.json" 2>/dev/null)"
  fi
  # A spawn through our MU: it finds the reference SU by the Scheduler-Location and forwards it.
  pid2=$(ao spawn --wallet "$user_wallet" --mu-url "$mu_url" --cu-url "$cu_url" --module "$module" \
    --scheduler "$address" --authority "$mu_address" --name byhand-2 2>"$tmp/spawn2.err")
  say "ao spawn through our MU: $pid2 $(cat "$tmp/spawn2.err")"
  check "MU forwarded the spawn to the reference SU" \
    poll_until eval 'curl -sf "$su_url/processes/$pid2" | jq_true ".process_id == \"$pid2\""'
  eval2=$(ao send "$pid2" --wallet "$user_wallet" --mu-url "$mu_url" --cu-url "$cu_url" --action Eval --data "return 6*7" 2>"$tmp/eval2.err")
  check "an Eval to it through our MU gives 42 on our CU" \
    eval 'poll_200 "$cu_url/result/$eval2?process-id=$pid2" "$tmp/r-eval2.json" && output_is "$tmp/r-eval2.json" 42'
  echo "process $pid on $su_url; cu $cu_url, mu $mu_url; files in $tmp, logs in $dir/{cu,mu,ref}.log"
  if ((failures > 0)); then say "$failures check(s) failed"; return 1; fi
  say "all checks passed"
}

cmd=${1:-}
shift || true
case "$cmd" in
  build) build_ref "$(checkout_arg "$@")" ;;
  start) start_ref "$(checkout_arg "$@")" ;;
  router) start_router "$(checkout_arg "$@")" ;;
  stop) stop_all ;;
  capture) capture ;;
  bench) bench "$(checkout_arg "$@")" ;;
  cu) ours_with_ref "$(checkout_arg "$@")" ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
