#!/usr/bin/env bash
# Usage: start.sh CACHE_DIR DATA_DIR PORT CONTROLLER_PORT
# Runs a single-node KRaft Kafka (broker+controller) on 127.0.0.1:PORT in the foreground.
# CACHE_DIR must have been filled by provision.sh. The script exec's java, so the caller's
# PID is the broker's and SIGTERM shuts it down cleanly. Logs go to DATA_DIR/kafka.log.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 CACHE_DIR DATA_DIR PORT CONTROLLER_PORT" >&2; exit 2; }
command -v java >/dev/null 2>&1 || { echo "start.sh: 'java' not found on PATH (need Java 17+)" >&2; exit 1; }
[ -f "$1/libs/.provisioned" ] || { echo "start.sh: $1/libs not provisioned; run provision.sh $1 first" >&2; exit 1; }
libs="$(cd "$1/libs" && pwd)"
mkdir -p "$2/tmp"
data="$(cd "$2" && pwd)"
port="$3" cport="$4"

cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
PROPS

# shutdownHook=disable: else log4j closes the file before Kafka's own shutdown hook has finished logging
cat > "$data/log4j2.properties" <<PROPS
shutdownHook=disable
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$data/kafka.log
appender.file.append=false
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
PROPS

jvm=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
     -Djava.awt.headless=true -Djava.io.tmpdir="$data/tmp"
     -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*")

# format once (static quorum: no --standalone needed; ports may change between runs)
if [ ! -f "$data/logs/meta.properties" ]; then
  cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  java "${jvm[@]}" kafka.tools.StorageTool format -t "$cid" -c "$data/server.properties" \
    >"$data/format.log" 2>&1 || { cat "$data/format.log" >&2; exit 1; }
fi

exec java "${jvm[@]}" kafka.Kafka "$data/server.properties"
