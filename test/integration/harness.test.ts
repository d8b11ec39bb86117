import { InfluxDB } from 'influx';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';

// Proves the harness: the global setup's real Mosquitto and InfluxDB answer, and a message published over MQTT
// can end as a point in InfluxDB.
describe('test services', () => {
  it('carries an MQTT message into an InfluxDB point', async () => {
    const influx = new InfluxDB({ host: '127.0.0.1', port: Number(new URL(inject('influxUrl')).port), database: 'harness' });
    await influx.createDatabase('harness');

    const subscriber = await mqtt.connectAsync(inject('mosquittoUrl'), { protocolVersion: 5, clientId: 'harness-sub' });
    const publisher = await mqtt.connectAsync(inject('mosquittoUrl'), { protocolVersion: 5, clientId: 'harness-pub' });
    try {
      const received = new Promise<{ id: string; value: number }>((resolve) => {
        subscriber.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as { id: string; value: number }));
      });
      await subscriber.subscribeAsync('harness/in', { qos: 1 });
      await publisher.publishAsync('harness/in', JSON.stringify({ id: 'frame-1', value: 42 }), { qos: 1 });

      const message = await received;
      await influx.writePoints([{ measurement: 'harness', tags: { id: message.id }, fields: { value: message.value } }]);

      const rows = await influx.query<{ id: string; value: number }>('SELECT "value", "id" FROM "harness"');
      expect(rows.map((row) => ({ id: row.id, value: row.value }))).toEqual([{ id: 'frame-1', value: 42 }]);
    } finally {
      await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
    }
  });
});
