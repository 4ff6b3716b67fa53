#!/usr/bin/env bash
# The reference CU (permaweb/ao servers/cu, node) beside ours on a cold replay, on this machine, by
# hand (not CI): issue 15's "10,000 messages at least 10x faster than the reference CU".
#
#   scripts/reference-cu.sh build AO_CHECKOUT   npm ci of its servers/cu (once; ~1 min)
#   scripts/reference-cu.sh bench AO_CHECKOUT   schedule the process (once), then cold replays: reference, ours
#   scripts/reference-cu.sh stop                stop everything bench started
#
# Needs curl, jq and node (20 or 22). AO_CHECKOUT is a clone of https://github.com/permaweb/ao
# (servers/cu is installed in place; nothing of it is copied here). What bench does, in $REF_DIR
# (default .ao-data/ref-cu):
# - our arweave-local on $REF_GATEWAY_PORT (the gateway and GraphQL of both CUs, the bundler of
#   the SU) and our su on $REF_SU_PORT (HTTP; gRPC on the next port), each with its data kept
#   between runs, so the schedule is made once;
# - the minimal Lua module of cu/tests/replay.rs (modules/lua-minimal, built with emscripten into
#   $REF_DIR/module, or MODULE_WASM) published on the gateway with the tags ao devnet gives modules;
#   a process of it and BENCH_MESSAGES (10000) Evals `return 1 + 1` signed by an ed25519 wallet
#   and POSTed to our su (BENCH_MESSAGES + 1 messages with the process);
# - then BENCH_RUNS (2) times: the reference CU, then our cu, each started on an empty data dir,
#   asked GET /result/{last message}?process-id=; the wall time from the request to the answer
#   (202 answers are polled again; both CUs run with no busy threshold, so none come);
# - the reference CU offline: every URL it reads points at the local gateway (GATEWAY_URL,
#   ARWEAVE_URL, GRAPHQL_URL, GRAPHQL_URLS, CHECKPOINT_GRAPHQL_URL, UPLOADER_URL); node runs with
#   --import $REF_DIR/preload.mjs, which gives node 20 Promise.withResolvers (its evaluate
#   stream uses it; node 22 has it) and sends fetches to the testnet SU router that
#   @permaweb/ao-scheduler-utils asks first for every process it locates
#   (https://su-router.ao-testnet.xyz?process-id=, hard-coded) to a local listener
#   ($REF_DIR/router.mjs on $REF_ROUTER_PORT) that answers 404, so it falls back, as it does
#   for a process the router does not know, to the process's Scheduler tag and the SU's
#   Scheduler-Location on the gateway (which our su publishes).
# Prints a Markdown table row per run and the mean ratio; every run's logs stay in $REF_DIR/runs/.
# The gateway, su and router answer stay up for the next bench (same schedule); stop ends them.
#
# Environment: REF_DIR, REF_GATEWAY_PORT (9310), REF_SU_PORT (9311; gRPC 9312), REF_CU_PORT
# (9313), OUR_CU_PORT (9314; gRPC 9315), REF_ROUTER_PORT (9316), BENCH_MESSAGES (10000),
# BENCH_RUNS (2), BENCH_NICE (10: the niceness of every server started), MODULE_WASM,
# REF_CU_LOG_LEVEL (the reference's DEFAULT_LOG_LEVEL, default info), BENCH_DEADLINE (1800 s for
# one replay), CARGO_TARGET_DIR (ours, default $AO_CACHE/target), AO_CACHE (~/.cache/ao-rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AO_CACHE:-$HOME/.cache/ao-rs}
ours=${CARGO_TARGET_DIR:-$cache/target}
dir=${REF_DIR:-$root/.ao-data/ref-cu}
gw_port=${REF_GATEWAY_PORT:-9310}
su_port=${REF_SU_PORT:-9311}
ref_port=${REF_CU_PORT:-9313}
cu_port=${OUR_CU_PORT:-9314}
router_port=${REF_ROUTER_PORT:-9316}
messages=${BENCH_MESSAGES:-10000}
runs=${BENCH_RUNS:-2}
niceness=${BENCH_NICE:-10}
gw_url=http://127.0.0.1:$gw_port
su_url=http://127.0.0.1:$su_port
ref_url=http://127.0.0.1:$ref_port
cu_url=http://127.0.0.1:$cu_port
router_url=http://127.0.0.1:$router_port
# How long a server may take to answer after start (the reference CU opens SQLite and its workers).
start_deadline=60
# Longest a cold replay may take before the run is a failure.
replay_deadline=${BENCH_DEADLINE:-1800}

say() { echo "reference-cu: $*" >&2; }
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
  [ -f "$1/servers/cu/package.json" ] || die "$1/servers/cu/package.json not found: not a permaweb/ao checkout"
  (cd "$1" && pwd)
}

build_ref() {
  local cu=$1/servers/cu
  if [ -d "$cu/node_modules" ] && (cd "$cu" && node -e "new (require('better-sqlite3'))(':memory:')") 2>/dev/null; then
    say "reference CU already installed: $cu/node_modules"
    return
  fi
  say "npm ci in $cu (niced)"
  (cd "$cu" && nice -n 10 npm ci --no-audit --no-fund --loglevel=error)
  # Its SQLite binding is native: check it loads on this node.
  (cd "$cu" && node -e "new (require('better-sqlite3'))(':memory:')") ||
    die "better-sqlite3 does not load on $(node --version); rebuild it: (cd $cu && npm rebuild better-sqlite3)"
}

need_ours() {
  local b
  for b in arweave-local su cu ao; do
    [ -x "$ours/release/$b" ] || die "no $ours/release/$b: cargo build --release --bins first (or set CARGO_TARGET_DIR)"
  done
}

ao() { "$ours/release/ao" "$@"; }

# Start a server in the background, niced, its pid in NAME.pid; the rest of the arguments are the command.
start_bg() {
  local name=$1 out=$2; shift 2
  nice -n "$niceness" "$@" >"$out.out" 2>"$out.log" &
  echo $! >"$dir/$name.pid"
}

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start_gateway_su() {
  mkdir -p "$dir"
  if ! running gateway; then
    start_bg gateway "$dir/gateway" "$ours/release/arweave-local" --data-dir "$dir/gateway" \
      --http-addr "127.0.0.1:$gw_port"
    wait_http "$gw_url/info" "$(cat "$dir/gateway.pid")"
  fi
  if ! running su; then
    start_bg su "$dir/su" "$ours/release/su" --data-dir "$dir/su" --http-addr "127.0.0.1:$su_port" \
      --grpc-addr "127.0.0.1:$((su_port + 1))" --gateway-url "$gw_url"
    wait_http "$su_url/health" "$(cat "$dir/su.pid")"
    # Writes answer 503 until the block height is known.
    local deadline=$((SECONDS + start_deadline))
    until curl -sf -o /dev/null "$su_url/timestamp"; do
      ((SECONDS < deadline)) || die "our su has no block height after ${start_deadline}s"
      sleep 0.2
    done
  fi
  say "gateway $gw_url (pid $(cat "$dir/gateway.pid")), su $su_url (pid $(cat "$dir/su.pid"))"
}

# The answer to the hard-coded router host: 404 to everything, each request logged.
start_router_answer() {
  running router && return 0
  cat >"$dir/router.mjs" <<'EOF'
// Stands in for https://su-router.ao-testnet.xyz on this machine: 404 ("no such process"), so
// @permaweb/ao-scheduler-utils falls back to the gateway's Scheduler tag and Scheduler-Location.
import { createServer } from 'node:http'
const port = Number(process.argv[2])
createServer((req, res) => {
  console.log(new Date().toISOString(), req.method, req.url)
  res.writeHead(404, { 'content-type': 'application/json' })
  res.end('{"error":"no testnet router here"}')
}).listen(port, '127.0.0.1')
EOF
  start_bg router "$dir/router" node "$dir/router.mjs" "$router_port"
  local deadline=$((SECONDS + start_deadline))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$router_url/")" = 404 ]; do
    ((SECONDS < deadline)) || die "the router answer did not start"
    sleep 0.2
  done
}

write_preload() {
  cat >"$dir/preload.mjs" <<'EOF'
// Loaded with `node --import` before the reference CU (and, inherited, in its worker threads).
// 1. Promise.withResolvers (node 22; the reference's evaluate stream uses it, node 20 lacks it).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
// 2. The testnet SU router that @permaweb/ao-scheduler-utils asks first, hard-coded, answered by
//    the local listener in REF_CU_ROUTER_URL instead (this machine is offline).
const ROUTER = 'https://su-router.ao-testnet.xyz'
const local = process.env.REF_CU_ROUTER_URL
if (local) {
  const realFetch = globalThis.fetch
  globalThis.fetch = function fetch (input, init) {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input?.url
    if (typeof url === 'string' && url.startsWith(ROUTER)) {
      return realFetch(local + url.slice(ROUTER.length), init)
    }
    return realFetch(input, init)
  }
}
EOF
}

# The minimal Lua module (cu/tests/replay.rs's), built once with emscripten unless MODULE_WASM.
module_wasm() {
  if [ -n "${MODULE_WASM:-}" ]; then echo "$MODULE_WASM"; return; fi
  if [ ! -f "$dir/module/process.wasm" ]; then
    say "building modules/lua-minimal into $dir/module (emscripten)"
    nice -n 10 bash "$root/modules/lua-minimal/build.sh" "$dir/module" >"$dir/module-build.log" 2>&1 ||
      die "building the module failed; see $dir/module-build.log (needs emscripten)"
  fi
  echo "$dir/module/process.wasm"
}

# Module, process and the Evals on our su, once: $dir/schedule.json says what was scheduled.
schedule() {
  if [ -f "$dir/schedule.json" ] && [ "$(jq -r .messages "$dir/schedule.json")" = "$messages" ]; then
    say "already scheduled: $(cat "$dir/schedule.json")"
    return
  fi
  local w=$dir/user.json tmp address module pid wasm t0 i last n
  tmp=$dir/items
  rm -rf "$tmp"
  mkdir -p "$tmp"
  [ -f "$w" ] || ao wallet new --kind ed25519 --out "$w" >/dev/null
  address=$(curl -sf "$su_url/" | jq -r .address)
  wasm=$(module_wasm)
  module=$(ao item sign --wallet "$w" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Module \
    --tag Module-Format=wasm32-unknown-emscripten2 --tag Input-Encoding=JSON-1 --tag Output-Encoding=JSON-1 \
    --tag Memory-Limit=500-mb --tag Compute-Limit=9000000000000 --tag Content-Type=application/wasm \
    --tag "Name=ao-rs Lua minimal" --data "$wasm" --out "$tmp/module.bin")
  curl -sf --data-binary @"$tmp/module.bin" "$gw_url/tx" >/dev/null || die "the gateway refused the module"
  printf '1984' >"$tmp/process.data"
  pid=$(ao item sign --wallet "$w" --tag Data-Protocol=ao --tag Variant=ao.TN.1 --tag Type=Process \
    --tag Module="$module" --tag Scheduler="$address" --tag Name=reference-cu-replay \
    --tag Content-Type=text/plain --data "$tmp/process.data" --out "$tmp/process.bin")
  curl -sf --data-binary @"$tmp/process.bin" "$su_url/" >/dev/null || die "our su refused the spawn"
  say "module $module, process $pid on $su_url ($address); signing $messages Evals"
  printf 'return 1 + 1' >"$tmp/eval.lua"
  t0=$SECONDS
  # Each Eval its own 32-character anchor, so no two are the same item; signed and posted in
  # order, two signers at a time (the SU answers each after an fsync shared by concurrent writes).
  # shellcheck disable=SC2016 # the inner script's $1..$6 are its own arguments
  seq 1 "$messages" | nice -n 10 xargs -P 2 -I{} bash -c '
    a=$(printf "%032d" "$1")
    "$6" item sign --wallet "$2" --target "$3" --anchor "$a" --tag Data-Protocol=ao --tag Variant=ao.TN.1 \
      --tag Type=Message --tag Action=Eval --data "$4/eval.lua" --out "$4/m$1.bin" >/dev/null &&
    curl -sf -o /dev/null --data-binary @"$4/m$1.bin" "$5/" && rm -f "$4/m$1.bin"' _ {} "$w" "$pid" "$tmp" "$su_url" "$ours/release/ao" ||
    die "signing or posting an Eval failed"
  # The last message is whatever took the highest nonce (two posters: not necessarily the last signed).
  last=$(curl -sf "$su_url/$pid/latest" | jq -r '.message.id // .edges[0].node.message.id // empty')
  [ -n "$last" ] || die "no latest message of $pid on $su_url: $(curl -s "$su_url/$pid/latest" | head -c 300)"
  n=$(curl -sf "$su_url/$pid/latest" | jq -r '(.assignment // .edges[0].node.assignment).tags[] | select(.name == "Nonce") | .value')
  say "scheduled $messages Evals in $((SECONDS - t0)) s; the last, $last, has nonce $n"
  [ "$n" = "$messages" ] || die "expected nonce $messages for the last message, got $n"
  jq -n --arg m "$module" --arg p "$pid" --arg l "$last" --arg s "$address" --argjson n "$messages" \
    '{module: $m, process: $p, last: $l, scheduler: $s, messages: $n}' >"$dir/schedule.json"
  rm -rf "$tmp"
}

# Until our su has handed every item to the gateway (the reference CU reads the process there).
wait_uploads() {
  local deadline=$((SECONDS + 600)) backlog
  while :; do
    backlog=$(curl -sf "$su_url/metrics" | awk '$1 == "ao_su_upload_backlog_items" { print $2 }')
    [ "${backlog:-1}" = 0 ] && break
    ((SECONDS < deadline)) || die "the su's upload backlog is still $backlog after 600 s"
    sleep 1
  done
  local pid
  pid=$(jq -r .process "$dir/schedule.json")
  curl -sf -o /dev/null "$gw_url/raw/$pid" || die "the gateway does not serve the process $pid"
}

now_ms() { date +%s%3N; }

# GET the last message's result from BASE until 200; prints the milliseconds it took.
timed_result() {
  local base=$1 out=$2 pid last t0 code deadline
  pid=$(jq -r .process "$dir/schedule.json")
  last=$(jq -r .last "$dir/schedule.json")
  deadline=$((SECONDS + replay_deadline))
  t0=$(now_ms)
  while :; do
    code=$(curl -s -o "$out" -w '%{http_code}' "$base/result/$last?process-id=$pid") || code=000
    [ "$code" = 200 ] && break
    case "$code" in
      202 | 503 | 000) ;;
      *) say "$base answered $code: $(head -c 500 "$out")"; return 1 ;;
    esac
    ((SECONDS < deadline)) || { say "$base: no result in ${replay_deadline}s (last $code)"; return 1; }
    sleep 0.2
  done
  echo $(($(now_ms) - t0))
}

# The peak resident set of PID, MiB.
peak_rss() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

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

# One cold replay on the reference CU: a new SQLite file, wasm and memory directories.
run_ref() {
  local ao=$1 run=$2 wd=$dir/runs/ref-$2
  rm -rf "$wd"
  mkdir -p "$wd"/{wasm,memory,file-checkpoints}
  [ -f "$dir/ref-cu-wallet.json" ] || ao wallet new --kind arweave --out "$dir/ref-cu-wallet.json" >/dev/null
  (cd "$ao/servers/cu" && start_bg ref-cu "$wd/cu" env \
    NODE_CONFIG_ENV=development PORT="$ref_port" WALLET_FILE="$dir/ref-cu-wallet.json" \
    GATEWAY_URL="$gw_url" ARWEAVE_URL="$gw_url" GRAPHQL_URL="$gw_url/graphql" GRAPHQL_URLS="$gw_url/graphql" \
    CHECKPOINT_GRAPHQL_URL="$gw_url/graphql" UPLOADER_URL="$gw_url" \
    DB_URL="$wd/ao-cache.sqlite" WASM_BINARY_FILE_DIRECTORY="$wd/wasm" \
    PROCESS_MEMORY_CACHE_FILE_DIR="$wd/memory" PROCESS_MEMORY_FILE_CHECKPOINTS_DIR="$wd/file-checkpoints" \
    DISABLE_PROCESS_CHECKPOINT_CREATION=true DISABLE_PROCESS_FILE_CHECKPOINT_CREATION=true \
    BUSY_THRESHOLD=0 DEFAULT_LOG_LEVEL="${REF_CU_LOG_LEVEL:-info}" LOG_CONFIG_PATH="$wd/.loglevel" \
    REF_CU_ROUTER_URL="$router_url" \
    node --experimental-wasm-memory64 --import "$dir/preload.mjs" src/app.js)
  wait_http "$ref_url/" "$(cat "$dir/ref-cu.pid")"
  one_run "reference CU (node $(node --version))" "$ref_url" "$wd" "$(cat "$dir/ref-cu.pid")" "$run"
  stop_pidfile "$dir/ref-cu.pid"
}

# One cold replay on our cu: a new data dir, its defaults.
run_ours() {
  local run=$1 wd=$dir/runs/ours-$1
  rm -rf "$wd"
  mkdir -p "$wd"
  start_bg cu "$wd/cu" "$ours/release/cu" --data-dir "$wd/data" --http-addr "127.0.0.1:$cu_port" \
    --grpc-addr "127.0.0.1:$((cu_port + 1))" --gateway-url "$gw_url" --su-url "http://127.0.0.1:$((su_port + 1))"
  wait_http "$cu_url/health" "$(cat "$dir/cu.pid")"
  one_run "ao-rs cu" "$cu_url" "$wd" "$(cat "$dir/cu.pid")" "$run"
  say "our cu, run $run: $(curl -sf "$cu_url/metrics" | awk '$1 == "ao_cu_checkpoints_total" { print $2 }') checkpoints, evaluating $(curl -sf "$cu_url/metrics" | awk '$1 == "ao_cu_eval_duration_seconds_sum" { printf "%.2f", $2 }') s"
  stop_pidfile "$dir/cu.pid"
}

one_run() {
  local label=$1 base=$2 wd=$3 pid=$4 run=$5 ms load out
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  ms=$(timed_result "$base" "$wd/result.json") || die "$label: run $run failed; logs in $wd"
  out=$(jq -c '.Output | if type == "object" then .data else . end' "$wd/result.json")
  [ "$out" = '"2"' ] || [ "$out" = 2 ] || die "$label: the last Eval's Output is $out, not 2 ($wd/result.json)"
  local total=$((messages + 1))
  printf '| %s | %s | %s | %d.%02d s | %s ms | %s MiB | %s |\n' "$label" "$run" "$total" $((ms / 1000)) $((ms % 1000 / 10)) \
    "$(awk -v ms="$ms" -v n="$total" 'BEGIN { printf "%.2f", ms / n }')" "$(peak_rss "$pid")" "$load"
  echo "$label $run $ms" >>"$dir/runs/times.txt"
}

bench() {
  local ao=$1 i
  need_ours
  build_ref "$ao"
  command -v jq >/dev/null || die "needs jq"
  mkdir -p "$dir/runs"
  start_gateway_su
  schedule
  wait_uploads
  write_preload
  start_router_answer
  stop_pidfile "$dir/ref-cu.pid"
  stop_pidfile "$dir/cu.pid"
  : >"$dir/runs/times.txt"
  local asked
  asked=$(grep -c 'process-id=' "$dir/router.out" || true)
  say "process $(jq -r .process "$dir/schedule.json"), last message $(jq -r .last "$dir/schedule.json"); $runs runs each"
  echo "| CU | run | messages | cold replay (request to answer) | per message | peak RSS | load average (1, 5, 15 min) before |"
  echo "|---|---|---|---|---|---|---|"
  for i in $(seq 1 "$runs"); do
    run_ref "$ao" "$i"
    run_ours "$i"
  done
  awk '{ t[$1 == "reference" ? "ref" : "ours"] += $NF; n[$1 == "reference" ? "ref" : "ours"]++ }
    END { if (n["ref"] && n["ours"]) printf "mean: reference %.0f ms, ours %.0f ms, ratio %.1fx\n", t["ref"] / n["ref"], t["ours"] / n["ours"], (t["ref"] / n["ref"]) / (t["ours"] / n["ours"]) }' \
    "$dir/runs/times.txt"
  say "the router host was asked $(($(grep -c 'process-id=' "$dir/router.out" || true) - asked)) time(s) for a process, answered 404 (see $dir/router.out)"
}

stop_all() {
  stop_pidfile "$dir/ref-cu.pid"
  stop_pidfile "$dir/cu.pid"
  stop_pidfile "$dir/router.pid"
  stop_pidfile "$dir/su.pid"
  stop_pidfile "$dir/gateway.pid"
  say "stopped"
}

cmd=${1:-}
shift || true
case "$cmd" in
  # The checkout is checked in an assignment: set -e does not stop on a failed $(...) argument.
  build) ao_checkout=$(checkout_arg "$@"); build_ref "$ao_checkout" ;;
  bench) ao_checkout=$(checkout_arg "$@"); bench "$ao_checkout" ;;
  stop) stop_all ;;
  *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
