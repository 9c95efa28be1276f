#!/usr/bin/env bash
# KAFKA_* variables → server.properties (as the official apache/kafka image maps them), storage
# formatted once for CLUSTER_ID, then the broker in the foreground.
set -euo pipefail
props=/opt/kafka/config/server.properties
: > "$props"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_HEALTH_PORT|KAFKA_JVM_PERFORMANCE_OPTS) continue ;;
    KAFKA_*) key=${name#KAFKA_}; key=${key,,}; key=${key//___/-}; key=${key//__/@}; key=${key//_/.}; key=${key//@/_}
             printf '%s=%s\n' "$key" "$value" >> "$props" ;;
  esac
done < <(env)
: "${CLUSTER_ID:=5L6g3nShT-eMCtK--X86sw}"
classpath='/opt/kafka/libs/*'
log4j=-Dlog4j.configuration=file:/opt/kafka/config/log4j.properties
java -Xmx256m "$log4j" -cp "$classpath" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$props" --ignore-formatted
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} ${KAFKA_OPTS:-} "$log4j" -cp "$classpath" kafka.Kafka "$props"
