#!/usr/bin/env bash
# CAS benchmark: request throughput against an axum echo ceiling, IM event latency with
# 10,000 WebSocket sessions, and server memory per idle session. Loopback only; about
# 2-3 minutes after the builds. Writes bench/cas/results/<UTC time>/ and
# bench/cas/results/latest.md. See bench/cas/README.md.
#
# Knobs (environment): SESSIONS (10000), IMS (COUNT@RATE phases, "200@20,2000@200"),
# CONNS (32), SECS (10), WARMUP (2), LOGIN_CONCURRENCY (100), OFFLINE (1000),
# SKIP_BUILD (1 to skip cargo).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SESSIONS=${SESSIONS:-10000}
IMS=${IMS:-200@20,2000@200}
OFFLINE=${OFFLINE:-1000}
CONNS=${CONNS:-32}
SECS=${SECS:-10}
WARMUP=${WARMUP:-2}
LOGIN_CONCURRENCY=${LOGIN_CONCURRENCY:-100}
DOMAIN=bench.test
SMALL=small.test
PW=bench-pw-1

log() { printf '[cas-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- file descriptors: the client holds SESSIONS sockets, and so does the server --------
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((SESSIONS + 1000)) ]; then
    log "ulimit -Hn is $hard: too low for $SESSIONS sessions (need $((SESSIONS + 1000)))"
    exit 1
fi
ulimit -n "$hard"

# --- build -------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building switchboard (release)"
    (cd "$ROOT" && cargo build --release -p switchboard --quiet)
    log "building the bench crate (release)"
    (cd "$HERE" && cargo build --release --quiet)
fi
SB=$ROOT/target/release/switchboard
BENCH=$HERE/target/release/cas-bench
ECHO=$HERE/target/release/echo-server

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$HERE/results/$RUN_ID
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/cas-bench.XXXXXX)
SB_PID=""
ECHO_PID=""

stop_pid() { # PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
    local pid=$1 name=$2
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "$name ($pid) did not stop within 10 s of SIGTERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    stop_pid "$ECHO_PID" echo-server
    stop_pid "$SB_PID" switchboard
    [ -f "$WORK/sb.err" ] && [ ! -f "$OUT/switchboard.stderr.log" ] &&
        sed 's/\x1b\[[0-9;]*m//g' "$WORK/sb.err" >"$OUT/switchboard.stderr.log"
    rm -rf "$WORK"
    [ $rc -ne 0 ] && log "FAILED (exit $rc); logs in $OUT"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "listening http ADDR" in FILE (the process must stay alive); prints ADDR.
wait_listen() {
    local file=$1 pid=$2
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid exited during start-up"; return 1
        fi
        local a
        a=$(awk '$1=="listening" && $2=="http" {print $3; exit}' "$file")
        if [ -n "$a" ]; then echo "$a"; return 0; fi
        sleep 0.1
    done
    log "no 'listening http' line within 30 s"; return 1
}

alive() { # NAME PID PHASE
    if ! kill -0 "$2" 2>/dev/null; then
        log "$1 ($2) is gone after $3"; exit 1
    fi
}

# --- data: $SESSIONS users u00000.. plus a sender in bench.test; 25 users in small.test ---
log "preparing $SESSIONS users in $WORK"
mkdir -p "$WORK/data"
{
    echo "name,password"
    for ((i = 0; i < SESSIONS; i++)); do printf 'u%05d,%s\n' "$i" "$PW"; done
    echo "benchsender,$PW"
} >"$WORK/users.csv"
{
    echo "name,password"
    for i in $(seq -w 1 10); do echo "al$i,$PW"; done
    for i in $(seq -w 1 15); do echo "bo$i,$PW"; done
} >"$WORK/small.csv"
"$SB" domain add "$DOMAIN" --data "$WORK/data" >/dev/null
"$SB" user import "$WORK/users.csv" --domain "$DOMAIN" --data "$WORK/data" >/dev/null
"$SB" domain add "$SMALL" --data "$WORK/data" >/dev/null
"$SB" user import "$WORK/small.csv" --domain "$SMALL" --data "$WORK/data" >/dev/null

# --- servers ---------------------------------------------------------------------------------
RUST_LOG=warn "$SB" serve --data "$WORK/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 \
    --domain "$DOMAIN" >"$WORK/sb.out" 2>"$WORK/sb.err" </dev/null &
SB_PID=$!
SB_ADDR=$(wait_listen "$WORK/sb.out" "$SB_PID")
"$ECHO" 127.0.0.1:0 >"$WORK/echo.out" 2>"$WORK/echo.err" </dev/null &
ECHO_PID=$!
ECHO_ADDR=$(wait_listen "$WORK/echo.out" "$ECHO_PID")
log "switchboard $SB_ADDR (pid $SB_PID), echo-server $ECHO_ADDR (pid $ECHO_PID)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. memory per idle session + IM event latency -------------------------------------------
log "opening $SESSIONS WebSocket sessions, then IMs ($IMS: count@per second)"
"$BENCH" sessions --addr "$SB_ADDR" --pid "$SB_PID" --sessions "$SESSIONS" \
    --password "$PW" --sender benchsender --ims "$IMS" \
    --concurrency "$LOGIN_CONCURRENCY" >"$OUT/sessions.txt" 2>"$OUT/sessions.err" ||
    log "cas-bench sessions failed: $(tail -3 "$OUT/sessions.err")"
alive switchboard "$SB_PID" "the session test"
sleep 3
echo "rss_after_close_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$SB_PID/status")" >>"$OUT/sessions.txt"

# --- 1a. every session is closed now: IMs to those users must be stored for their next login ---
log "offline check: $OFFLINE IMs over HTTP to users without sessions"
"$BENCH" offline --addr "$SB_ADDR" --users "$SESSIONS" --count "$OFFLINE" --user benchsender \
    --password "$PW" >"$OUT/offline.txt" 2>"$OUT/offline.err" ||
    log "cas-bench offline failed: $(tail -3 "$OUT/offline.err")"
alive switchboard "$SB_PID" "the offline check"

# --- 1b. a second round of idle sessions: is the memory reused (or does it grow)? ------------
log "second round: $SESSIONS idle sessions"
"$BENCH" sessions --addr "$SB_ADDR" --pid "$SB_PID" --sessions "$SESSIONS" --password "$PW" \
    --ims 0 --concurrency "$LOGIN_CONCURRENCY" >"$OUT/sessions2.txt" 2>"$OUT/sessions2.err" ||
    log "cas-bench sessions (round 2) failed: $(tail -3 "$OUT/sessions2.err")"
alive switchboard "$SB_PID" "the second round"
sleep 3

# --- 1c. the same idle WebSockets on the bare stack (echo-server, axum defaults) --------------
log "opening $SESSIONS idle WebSockets to echo-server (memory reference)"
"$BENCH" sessions --addr "$ECHO_ADDR" --pid "$ECHO_PID" --sessions "$SESSIONS" --ims 0 \
    --concurrency "$LOGIN_CONCURRENCY" >"$OUT/echo-ws.txt" 2>"$OUT/echo-ws.err" ||
    log "cas-bench sessions (echo) failed: $(tail -3 "$OUT/echo-ws.err")"
alive echo-server "$ECHO_PID" "the WebSocket memory reference"
sleep 2

# --- 2. throughput: echo ceiling, switchboard with a small and with the big directory ----------
tp() { # NAME ADDR PID [ARGS...]
    local name=$1 addr=$2 pid=$3
    shift 3
    log "throughput: $name ($CONNS connections, ${WARMUP}s warm-up + ${SECS}s)"
    "$BENCH" throughput --addr "$addr" --pid "$pid" --conns "$CONNS" --warmup "$WARMUP" \
        --secs "$SECS" "$@" >"$OUT/tp-$name.txt" 2>"$OUT/tp-$name.err" ||
        log "cas-bench throughput $name failed: $(tail -3 "$OUT/tp-$name.err")"
}
tp echo1 "$ECHO_ADDR" "$ECHO_PID" --tokens al
tp sb-small "$SB_ADDR" "$SB_PID" --tokens al --user al01 --password "$PW" --domain "$SMALL"
tp sb-big "$SB_ADDR" "$SB_PID" --tokens u0001 --user u00001 --password "$PW"
tp echo2 "$ECHO_ADDR" "$ECHO_PID" --tokens al
alive switchboard "$SB_PID" "the throughput test"
alive echo-server "$ECHO_PID" "the throughput test"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- stop -------------------------------------------------------------------------------------
kill -TERM "$SB_PID"
SB_EXIT=0
for _ in $(seq 100); do kill -0 "$SB_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SB_PID" 2>/dev/null; then
    SB_EXIT="did not stop within 10 s of SIGTERM"
else
    wait "$SB_PID" || SB_EXIT=$?
fi
SB_PID=""
sed 's/\x1b\[[0-9;]*m//g' "$WORK/sb.err" >"$OUT/switchboard.stderr.log"
SB_WARN=$(grep -c -E ' WARN ' "$OUT/switchboard.stderr.log" || true)
SB_ERROR=$(grep -c -E ' ERROR ' "$OUT/switchboard.stderr.log" || true)

# --- report -----------------------------------------------------------------------------------
get() { # FILE KEY
    awk -F= -v k="$2" '$1==k {sub(/^[^=]*=/, ""); print; exit}' "$OUT/$1" 2>/dev/null || true
}
ms() { awk -v u="${1:-}" 'BEGIN { if (u == "") print "?"; else printf "%.2f", u / 1000 }'; }
verdict() { awk -v ok="$1" 'BEGIN { print (ok == 1 ? "**met**" : "**missed**") }'; }

E1=$(get tp-echo1.txt rps); E2=$(get tp-echo2.txt rps)
CEIL=$(awk -v a="${E1:-0}" -v b="${E2:-0}" 'BEGIN { print (a > b ? a : b) }')
SBS=$(get tp-sb-small.txt rps); SBB=$(get tp-sb-big.txt rps)
pct() { awk -v x="${1:-0}" -v c="$CEIL" 'BEGIN { if (c > 0) printf "%.1f", 100 * x / c; else print "?" }'; }
RS=$(pct "$SBS"); RB=$(pct "$SBB")
# The same ratio per server CPU-second (less sensitive to what else runs on the machine).
CE1=$(get tp-echo1.txt req_per_server_cpu_s); CE2=$(get tp-echo2.txt req_per_server_cpu_s)
CCEIL=$(awk -v a="${CE1:-0}" -v b="${CE2:-0}" 'BEGIN { print (a > b ? a : b) }')
cpct() { awk -v x="${1:-0}" -v c="$CCEIL" 'BEGIN { if (c > 0) printf "%.1f", 100 * x / c; else print "?" }'; }
RSC=$(cpct "$(get tp-sb-small.txt req_per_server_cpu_s)"); RBC=$(cpct "$(get tp-sb-big.txt req_per_server_cpu_s)")
NPH=$(get sessions.txt im_phases)
PER=$(get sessions.txt rss_per_session_bytes); PSS=$(get sessions.txt pss_per_session_bytes)
EPER=$(get echo-ws.txt rss_per_session_bytes)
kib() { awk -v b="${1:-}" 'BEGIN { if (b == "") print "?"; else printf "%.1f", b / 1024 }'; }
CONNECTED=$(get sessions.txt sessions_connected)
LOST=$(get sessions.txt events_lost)

tp_row() { # LABEL FILE
    local f=$2
    printf '| %s | %s | %s | %s | %s / %s | %s | %s | %s | %s |\n' "$1" \
        "$(get "$f" rps)" "$(get "$f" requests)" \
        "$(awk -v a="$(get "$f" non_200)" -v b="$(get "$f" io_errors)" 'BEGIN { print a + b }')" \
        "$(ms "$(get "$f" lat_p50_us)")" "$(ms "$(get "$f" lat_p99_us)")" \
        "$(get "$f" server_cpu_s)" "$(get "$f" req_per_server_cpu_s)" "$(get "$f" client_cpu_s)" \
        "$(get "$f" other_cpu_s)"
}

{
    echo "# CAS benchmark: latest results"
    echo
    echo "Run $RUN_ID (UTC) by \`bench/cas/run.sh\` at commit \`$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)\`$(cd "$ROOT" && [ -n "$(git status --porcelain 2>/dev/null | grep -v '^?? bench/' || true)" ] && echo ' (uncommitted changes)')."
    echo
    echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)."
    echo "Load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END. The machine is shared"
    echo "with other builds; \`other CPU s\` below is what processes other than the server and"
    echo "the client used during each window. Server, client and ceiling share the same cores."
    echo
    echo "## Goals"
    echo
    echo "| goal | measured | verdict |"
    echo "| --- | --- | --- |"
    echo "| ≥ 70 % of the ceiling's requests/s (\`dir.lookup_contacts\`) | ${RS} % with a 25-user directory, ${RB} % with the $SESSIONS-user directory (per server CPU-second: ${RSC} % and ${RBC} %) | $(verdict "$(awk -v r="$RS" 'BEGIN{print (r+0>=70)}')") / $(verdict "$(awk -v r="$RB" 'BEGIN{print (r+0>=70)}')") |"
    for ((k = 1; k <= ${NPH:-0}; k++)); do
        p99=$(get sessions.txt "im${k}_lat_p99_us"); lost=$(get sessions.txt "im${k}_events_lost")
        echo "| IM event latency p99 < 5 ms with $SESSIONS WebSocket sessions ($(get sessions.txt "im${k}_rate") IM/s) | p99 $(ms "$p99") ms (p50 $(ms "$(get sessions.txt "im${k}_lat_p50_us")") ms), ${CONNECTED:-?} sessions connected, ${lost:-?} of $(get sessions.txt "im${k}_events_expected") events lost | $(verdict "$(awk -v p="${p99:-}" -v c="${CONNECTED:-0}" -v s="$SESSIONS" -v l="${lost:-1}" 'BEGIN{print (p != "" && p+0 < 5000 && c+0 == s+0 && l+0 == 0)}')") |"
    done
    echo "| ≤ 20 KiB server memory per idle session | $(kib "$PER") KiB RSS ($(kib "$PSS") KiB PSS); bare axum WebSocket on the echo server: $(kib "$EPER") KiB | $(verdict "$(awk -v b="${PER:-}" 'BEGIN{print (b != "" && b+0 <= 20480)}')") |"
    echo
    echo "## Throughput: \`POST /cas\` \`dir.lookup_contacts\`, $CONNS keep-alive connections, ${SECS} s after ${WARMUP} s warm-up"
    echo
    echo "| target | req/s | requests | errors | latency p50 / p99 ms | server CPU s | req per server CPU s | client CPU s | other CPU s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    tp_row "echo-server (ceiling), before" tp-echo1.txt
    tp_row "switchboard, 25-user directory (\`small.test\`)" tp-sb-small.txt
    tp_row "switchboard, $SESSIONS-user directory (\`$DOMAIN\`)" tp-sb-big.txt
    tp_row "echo-server (ceiling), after" tp-echo2.txt
    echo
    echo "Ceiling = the better echo run ($CEIL req/s). Reply sizes: echo $(get tp-echo1.txt reply_bytes) B,"
    echo "switchboard $(get tp-sb-small.txt reply_bytes) B (small, $(get tp-sb-small.txt lookup_entries) entries) and $(get tp-sb-big.txt reply_bytes) B (big, $(get tp-sb-big.txt lookup_entries) entries)."
    for f in tp-echo1 tp-sb-small tp-sb-big tp-echo2; do
        e=$(get "$f.txt" first_error)
        [ -n "$e" ] && echo "First error of $f: \`$e\`"
        [ -s "$OUT/$f.err" ] && echo "$f stderr: \`$(tail -1 "$OUT/$f.err")\`"
    done
    echo
    echo "## Sessions and event latency"
    echo
    echo "| figure | value |"
    echo "| --- | --- |"
    echo "| WebSocket sessions connected / wanted | ${CONNECTED:-?} / $SESSIONS (login failures: $(get sessions.txt login_failures)) |"
    echo "| time to open and log in (concurrency $LOGIN_CONCURRENCY) | $(get sessions.txt open_s) s ($(get sessions.txt open_rate)/s; login p50 $(ms "$(get sessions.txt login_p50_us)") ms, p99 $(ms "$(get sessions.txt login_p99_us)") ms); server idle again $(get sessions.txt quiet_after_s) s later |"
    echo "| server RSS before / after opening | $(get sessions.txt mem_before_rss_kib) / $(get sessions.txt mem_after_rss_kib) KiB |"
    echo "| server PSS before / after opening | $(get sessions.txt mem_before_pss_kib) / $(get sessions.txt mem_after_pss_kib) KiB |"
    echo "| per idle session (RSS / PSS) | $PER / $PSS bytes |"
    echo "| echo-server (axum defaults, no logic): idle WebSockets, RSS before / after, per socket | $(get echo-ws.txt sessions_connected) sockets, $(get echo-ws.txt mem_before_rss_kib) / $(get echo-ws.txt mem_after_rss_kib) KiB, $EPER bytes |"
    echo "| server RSS after the IMs / after the sessions closed | $(get sessions.txt mem_after_ims_rss_kib) / $(get sessions.txt rss_after_close_kib) KiB |"
    echo "| server threads before → after | $(get sessions.txt server_threads) |"
    echo "| misrouted / other events / sequence gaps / sockets dropped (all phases) | $(get sessions.txt events_misrouted) / $(get sessions.txt events_other) / $(get sessions.txt seq_gaps) / $(get sessions.txt disconnects) |"
    echo "| second round of $SESSIONS idle sessions: connected, server RSS after | $(get sessions2.txt sessions_connected), $(get sessions2.txt mem_after_rss_kib) KiB (first round: $(get sessions.txt mem_after_rss_kib) KiB) |"
    echo "| offline check after all sessions closed: IMs sent / \`stored\` / **not stored (pushed to no one)** / errors | $(get offline.txt offline_sent) / $(get offline.txt offline_stored) / $(get offline.txt offline_not_stored) / $(get offline.txt offline_errors) |"
    echo
    echo "IM phases: a sender session sends paced \`im.send\` to users with a connected session (one"
    echo "event expected per IM); latency is \`im.send\` written → \`im.received\` read at the receiving"
    echo "socket, both in the client process. The server is left to go idle before each phase."
    echo
    echo "| phase | IMs @ rate | events expected / received / lost / dup | sent → received p50 / p90 / p99 / p99.9 / max ms | \`im.send\` reply p50 / p99 ms | replies: errors / \`stored\` / \`delivered\` mismatch | CPU s server / client / others |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for ((k = 1; k <= ${NPH:-0}; k++)); do
        g() { get sessions.txt "im${k}_$1"; }
        echo "| $k | $(g sent) @ $(g rate)/s ($(g send_s) s) | $(g events_expected) / $(g events_received) / $(g events_lost) / $(g events_duplicate) | $(ms "$(g lat_p50_us)") / $(ms "$(g lat_p90_us)") / $(ms "$(g lat_p99_us)") / $(ms "$(g lat_p999_us)") / $(ms "$(g lat_max_us)") | $(ms "$(g reply_p50_us)") / $(ms "$(g reply_p99_us)") | $(g reply_errors) / $(g reply_stored) / $(g reply_delivered_mismatch) | $(g server_cpu_s) / $(g client_cpu_s) / $(g other_cpu_s) |"
    done
    echo
    for k in offline_example offline_first_error; do
        grep "^$k=" "$OUT/offline.txt" 2>/dev/null | sed "s/^$k=/- $k: \`/; s/\$/\`/" | cut -c1-400 || true
    done
    for k in login_failure reply_first_error first_disconnect; do
        grep "^$k=" "$OUT/sessions.txt" 2>/dev/null | sed "s/^$k=/- $k: \`/; s/\$/\`/" || true
    done
    [ -s "$OUT/sessions.err" ] && echo "- cas-bench sessions stderr: \`$(tail -1 "$OUT/sessions.err")\`"
    echo
    echo "## Server"
    echo
    echo "Exit after SIGTERM: $SB_EXIT. Log (\`RUST_LOG=warn\`): $SB_WARN WARN, $SB_ERROR ERROR lines."
    if grep -q 'lagged' "$OUT/switchboard.stderr.log"; then
        echo
        echo "Bus events dropped (\`lagged ... lost=N\` warnings), by listener:"
        echo
        grep 'lagged' "$OUT/switchboard.stderr.log" |
            awk '{ for (i = 1; i <= NF; i++) { if ($i ~ /::/ && t == "") t = $i; if ($i ~ /^lost=/) { split($i, x, "="); n = x[2] } } s[t] += n; c[t]++; t = "" }
                 END { for (k in s) printf "- `%s` %d events in %d warnings\n", k, s[k], c[k] }' | sort
    fi
    if [ "$((SB_WARN + SB_ERROR))" -gt 0 ]; then
        echo
        echo '```'
        # Timestamps stripped so that repeated lines group.
        grep -E ' (WARN|ERROR) ' "$OUT/switchboard.stderr.log" | sed -E 's/^[0-9T:.Z-]+ +//' |
            sort | uniq -c | sort -rn | head -10 | cut -c1-300
        echo '```'
    fi
} >"$OUT/report.md"

cp "$OUT/report.md" "$HERE/results/latest.md"
cat "$OUT/report.md"
log "done: $OUT"
