/**
 * mqtt.js logs every packet through the `debug` package, which collects each call's arguments into an array before
 * it checks whether the namespace is on: at a few thousand messages a second that was a measurable share of the
 * service's allocations. Unless `DEBUG` asks for mqtt.js's logs, its clients get a logger that takes no arguments.
 */
export function mqttClientLog(): { log?: () => void } {
  const asked = (process.env.DEBUG ?? '').split(/[\s,]+/).some((name) => name === '*' || name.startsWith('mqttjs'));
  return asked ? {} : { log: ignoreLog };
}

function ignoreLog(): void {
  // Nothing: see mqttClientLog.
}
