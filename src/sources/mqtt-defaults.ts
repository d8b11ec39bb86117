/** The MQTT client's defaults, for the source and for the flow schema's `source` block alike (docs/flows.md). */
export const MQTT_DEFAULTS = {
  protocolVersion: 5,
  maxPacketBytes: 16 * 1024 * 1024,
  keepaliveSeconds: 30,
  reconnectPeriodMs: 1_000,
  connectTimeoutMs: 10_000,
  sessionExpirySeconds: 86_400,
} as const;
