#!/usr/bin/env bash
# The Debezium image's variables → connect-distributed.properties, then the worker in the foreground.
set -euo pipefail
for v in BOOTSTRAP_SERVERS CONFIG_STORAGE_TOPIC OFFSET_STORAGE_TOPIC STATUS_STORAGE_TOPIC; do
  if [ -z "${!v:-}" ]; then echo "error: $v is not set" >&2; exit 1; fi
done
props=/opt/kafka/config/connect-distributed.properties
{
  echo "bootstrap.servers=$BOOTSTRAP_SERVERS"
  echo "group.id=${GROUP_ID:-1}"
  echo "config.storage.topic=$CONFIG_STORAGE_TOPIC"
  echo "offset.storage.topic=$OFFSET_STORAGE_TOPIC"
  echo "status.storage.topic=$STATUS_STORAGE_TOPIC"
  echo "config.storage.replication.factor=${CONFIG_STORAGE_REPLICATION_FACTOR:-1}"
  echo "offset.storage.replication.factor=${OFFSET_STORAGE_REPLICATION_FACTOR:-1}"
  echo "status.storage.replication.factor=${STATUS_STORAGE_REPLICATION_FACTOR:-1}"
  echo "key.converter=${KEY_CONVERTER:-org.apache.kafka.connect.json.JsonConverter}"
  echo "value.converter=${VALUE_CONVERTER:-org.apache.kafka.connect.json.JsonConverter}"
  echo "offset.flush.interval.ms=${OFFSET_FLUSH_INTERVAL_MS:-60000}"
  echo "listeners=http://0.0.0.0:${REST_PORT:-8083}"
  echo "rest.advertised.host.name=${ADVERTISED_HOST_NAME:-$(hostname -i | cut -d' ' -f1)}"
  echo "rest.advertised.port=${ADVERTISED_PORT:-${REST_PORT:-8083}}"
  echo "plugin.path=/kafka/connect"
} > "$props"
while IFS='=' read -r name value; do
  case "$name" in
    CONNECT_*) key=${name#CONNECT_}; key=${key,,}; key=${key//_/.}; printf '%s=%s\n' "$key" "$value" >> "$props" ;;
  esac
done < <(env)
# shellcheck disable=SC2086
exec java ${HEAP_OPTS:--Xmx768m} ${KAFKA_OPTS:-} -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties -cp '/opt/kafka/libs/*' org.apache.kafka.connect.cli.ConnectDistributed "$props"
