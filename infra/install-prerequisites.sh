#!/usr/bin/env bash
# Installs, from Debian's packages, whatever of the stack's prerequisites is missing:
# Java 17+ (Kafka, Connect), Maven (fetches the JVM components), PostgreSQL 15 server binaries,
# and for the containers (images, compose, testcontainers) the Docker engine, Compose and
# debootstrap, and Chromium for the web UI's browser test; then starts the Docker engine when it is not running.
# Apicurio Registry 3.3 also needs a Java 21+ runtime; Debian 12 has none, so it must already be
# under /usr/lib/jvm (or be given with SAGALINE_REGISTRY_JAVA).
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
[ -x "${SAGALINE_PG_BIN_DIR:-/usr/lib/postgresql/15/bin}/postgres" ] || missing+=(postgresql-15)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
# `stack up --secure` generates its certificates with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# The web UI's browser test drives Debian's headless Chromium (nothing downloads a browser of its own).
command -v "${SAGALINE_CHROMIUM:-chromium}" >/dev/null 2>&1 || missing+=(chromium)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

java_21=""
for candidate in "${SAGALINE_REGISTRY_JAVA:-}" "$(command -v java)" /usr/lib/jvm/*/bin/java; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  major=$("$candidate" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
  if [ "${major:-0}" -ge 21 ]; then java_21="$candidate"; break; fi
done
if [ -z "$java_21" ]; then
  echo "error: no Java 21+ runtime found for Apicurio Registry; install a JDK 21+ under /usr/lib/jvm or set SAGALINE_REGISTRY_JAVA" >&2
  exit 1
fi
echo "prerequisites present: $(java -version 2>&1 | head -1); $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'); registry java: $java_21"

# The Docker engine: started here when it does not answer (nothing else on these machines starts it).
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v dockerd >/dev/null 2>&1; then
    log=/var/log/sagaline-dockerd.log
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 1 60); do docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break; sleep 0.5; done
  fi
fi
if engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null); then
  echo "docker engine: $engine"
else
  # Not fatal here: the suites that need it fail on their own, naming this.
  echo "warning: the Docker engine does not answer ($(docker version 2>&1 | tail -1)${log:+; see $log})" >&2
fi
