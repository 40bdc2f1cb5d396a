#!/bin/sh
# Runs once, after the influxdb:2 image's initial setup (DOCKER_INFLUXDB_INIT_*),
# with the influx CLI already configured with the admin token.
# Maps InfluxQL database "telemetry" / retention policy "autogen" to the bucket, so the
# HazardWatch server and Grafana can read with InfluxQL on /query (docs/influxdb.md).
set -eu
bucket_id=$(influx bucket list --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f 1)
influx v1 dbrp create --org "${DOCKER_INFLUXDB_INIT_ORG}" --bucket-id "${bucket_id}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" --rp autogen --default
