#!/usr/bin/env bash
# opensearch.sh -- build and run the real OpenSearch 2.19 test node (Launcher.java, java -cp).
#
#   opensearch.sh build                           compile the launcher, write the classpath file
#   opensearch.sh start DATA_DIR PORT [k=v ...]   start in the background, wait for health yellow
#   opensearch.sh stop DATA_DIR                   SIGTERM, wait for a clean close (SIGKILL at 60 s)
#   opensearch.sh run DATA_DIR PORT [k=v ...]     exec the node in the foreground (for helpers
#                                                 that own the process; prints "READY port=N")
#
# DATA_DIR holds data/ (path.data, reused across restarts), logs/, home/ (scratch path.home),
# node.log, node.pid and node.port. PORT 0 lets the node pick a free port; start prints it.
# key=value are node settings (thread_pool.write.queue_size=2, ...); launcher.painless=true
# also loads Painless (off by default: it adds about 1.5 s to every start).
# Build output goes to $ASHIATO_OS_BUILD_DIR, else $ASHIATO_BUILD_DIR/opensearch (ctest sets
# ASHIATO_BUILD_DIR), else ~/.cache/ashiato-opensearch.
# The first build downloads from Maven Central into ~/.m2; later builds run offline (-o), and
# starts need no Maven at all once classpath.txt exists.
# Environment: OPENSEARCH_JAVA_OPTS (extra JVM options), OPENSEARCH_START_TIMEOUT (s, 180).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${ASHIATO_OS_BUILD_DIR:-}" ]]; then
  out="$ASHIATO_OS_BUILD_DIR"
elif [[ -n "${ASHIATO_BUILD_DIR:-}" ]]; then
  out="$ASHIATO_BUILD_DIR/opensearch"
else
  # never inside the source tree: the CDS archive alone is ~70 MB
  out="${XDG_CACHE_HOME:-$HOME/.cache}/ashiato-opensearch"
fi
jar="$out/ashiato-opensearch-node-1.0.0.jar"
cpfile="$out/classpath.txt"
jsa="$out/node.jsa"

die() { echo "opensearch.sh: $*" >&2; exit 1; }

# No jar or classpath yet, a jar of the classpath gone from ~/.m2, or a source newer than the
# jar means a build is needed.
needs_build() {
  [[ -f "$jar" && -s "$cpfile" ]] || return 0
  local f
  while IFS= read -r -d: f || [[ -n "$f" ]]; do
    [[ -f "${f%$'\n'}" ]] || return 0
  done <"$cpfile"
  [[ -n "$(find "$here/pom.xml" "$here/src" -newer "$jar" -type f -print -quit)" ]]
}

do_build() {
  command -v mvn >/dev/null || die "mvn not found"
  mkdir -p "$out"
  # one build at a time per output directory (parallel ctest entries share it)
  exec 9>"$out/.build.lock"
  flock 9
  if ! needs_build; then
    exec 9>&-
    return 0
  fi
  local args=(-B -q -Dstyle.color=never -f "$here/pom.xml" "-Dashiato.os.build=$out" package
              dependency:build-classpath "-Dmdep.outputFile=$cpfile" -Dmdep.includeScope=runtime)
  if ! mvn -o "${args[@]}" >"$out/build.log" 2>&1; then
    # first build on this machine: fetch from Maven Central
    mvn "${args[@]}" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; die "maven build failed"; }
  fi
  [[ -f "$jar" && -s "$cpfile" ]] || die "build produced no $jar or $cpfile"
  touch "$jar"  # before make_cds: the archive records the jar's mtime
  make_cds
  exec 9>&-
}

# A class-data-sharing archive of one real start: later starts load classes from it (about
# 3.8 s -> 2.4 s to yellow here). Best effort: without it the node starts as usual.
make_cds() {
  local tmp="$out/cds-data" port
  rm -rf "$tmp" "$jsa"
  java_cmd "$tmp" 0 launcher.painless=true  # archive Painless's classes too
  cmd=("${cmd[0]}" "-XX:ArchiveClassesAtExit=$jsa" "${cmd[@]:1}")
  mkdir -p "$tmp"
  : >"$out/cds.log"
  "${cmd[@]}" >"$out/cds.log" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + 180))
  until port="$(grep -m1 -o '^READY port=[0-9]*' "$out/cds.log")"; do
    if ! alive "$pid" || ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      echo "opensearch.sh: no CDS archive (node did not start, see $out/cds.log)" >&2
      rm -rf "$tmp" "$jsa"
      return 0
    fi
    sleep 0.2
  done
  port="${port#READY port=}"
  curl -sf -o /dev/null "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=30s" || true
  kill -TERM "$pid"
  wait "$pid" || true
  rm -rf "$tmp"
  [[ -s "$jsa" ]] || echo "opensearch.sh: no CDS archive written, see $out/cds.log" >&2
}

java_cmd() {
  local data="$1" port="$2"
  shift 2
  command -v java >/dev/null || die "java not found"
  # the JVM options OpenSearch's own jvm.options sets, less GC logging and heap dumps
  local opts=(-Xms1g -Xmx1g -Xss1m -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow
              -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
              -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
              -Dio.netty.recycler.maxCapacityPerThread=0
              -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
              -Djava.locale.providers=SPI,COMPAT)
  [[ -s "$jsa" ]] && opts+=("-XX:SharedArchiveFile=$jsa")
  # shellcheck disable=SC2206
  local extra=(${OPENSEARCH_JAVA_OPTS:-})
  cmd=(java "${opts[@]}" "${extra[@]}" -cp "$jar:$(cat "$cpfile")"
       org.ashiato.testnode.Launcher "$data" "$port" "$@")
}

# running and not a zombie (an orphaned JVM is reaped by init, maybe not at once)
alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$st" && "$st" != Z* ]]
}

do_start() {
  [[ $# -ge 2 ]] || die "usage: start DATA_DIR PORT [key=value ...]"
  local data="$1" port="$2"
  shift 2
  needs_build && do_build
  mkdir -p "$data"
  data="$(cd "$data" && pwd)"
  local pidf="$data/node.pid" log="$data/node.log"
  if [[ -f "$pidf" ]] && alive "$(cat "$pidf")"; then
    die "a node is already running on $data (pid $(cat "$pidf"))"
  fi
  java_cmd "$data" "$port" "$@"
  local t0=$SECONDS
  : >"$log"
  setsid "${cmd[@]}" >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidf"
  local deadline=$((SECONDS + ${OPENSEARCH_START_TIMEOUT:-180}))
  # the READY line carries the bound port (needed when PORT is 0)
  local ready=""
  while [[ -z "$ready" ]]; do
    alive "$pid" || { tail -n 40 "$log" >&2; rm -f "$pidf"; die "node exited during startup (log: $log)"; }
    ((SECONDS < deadline)) || { tail -n 40 "$log" >&2; die "no READY line within timeout"; }
    ready="$(grep -m1 -o '^READY port=[0-9]*' "$log" || true)"
    [[ -n "$ready" ]] || sleep 0.2
  done
  port="${ready#READY port=}"
  until curl -sf -o /dev/null \
      "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s"; do
    alive "$pid" || { tail -n 40 "$log" >&2; rm -f "$pidf"; die "node exited before yellow"; }
    ((SECONDS < deadline)) || { tail -n 40 "$log" >&2; die "health not yellow within timeout"; }
    sleep 0.2
  done
  echo "$port" >"$data/node.port"
  echo "opensearch started: pid $pid port $port in $((SECONDS - t0)) s (log $log)"
}

do_stop() {
  [[ $# -eq 1 ]] || die "usage: stop DATA_DIR"
  local pidf="$1/node.pid"
  [[ -f "$pidf" ]] || { echo "opensearch.sh: no pid file in $1, nothing to stop"; return 0; }
  local pid
  pid="$(cat "$pidf")"
  if alive "$pid"; then
    kill -TERM "$pid"
    local i
    for ((i = 0; i < 600; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "opensearch.sh: pid $pid ignored SIGTERM for 60 s, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidf" "$1/node.port"
  echo "opensearch stopped: pid $pid"
}

do_run() {
  [[ $# -ge 2 ]] || die "usage: run DATA_DIR PORT [key=value ...]"
  needs_build && do_build
  mkdir -p "$1"
  java_cmd "$@"
  exec "${cmd[@]}"
}

case "${1:-}" in
  build) do_build ;;
  start) shift; do_start "$@" ;;
  stop) shift; do_stop "$@" ;;
  run) shift; do_run "$@" ;;
  *) die "usage: $0 build | start DATA_DIR PORT [key=value ...] | stop DATA_DIR | run DATA_DIR PORT [key=value ...]" ;;
esac
