#!/bin/sh
# Writes the broker's password file from the env file's passwords (hashed by mosquitto_passwd), then runs Mosquitto.
# The file lives on a tmpfs (docker-compose.yml), so no password is ever stored in the image or a volume.
set -eu
: "${MQTT_EDGEKE_PASSWORD:?set MQTT_EDGEKE_PASSWORD in .env (see deploy/env.example)}"
: "${MQTT_DEVICES_PASSWORD:?set MQTT_DEVICES_PASSWORD in .env (see deploy/env.example)}"
umask 077
passwd=/mosquitto/auth/passwd
mkdir -p /mosquitto/auth
rm -f "$passwd"
touch "$passwd"
# Usernames match deploy/mosquitto/acl.conf.
mosquitto_passwd -b "$passwd" edgeke "$MQTT_EDGEKE_PASSWORD"
mosquitto_passwd -b "$passwd" devices "$MQTT_DEVICES_PASSWORD"
chown -R mosquitto:mosquitto /mosquitto/auth
exec /docker-entrypoint.sh mosquitto -c /mosquitto/config/mosquitto.conf
