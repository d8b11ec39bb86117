import { afterEach, describe, expect, it } from 'vitest';
import { mqttClientLog } from '../../src/core/mqtt-client-log.ts';

describe('mqtt.js client logging', () => {
  const saved = process.env.DEBUG;
  afterEach(() => {
    if (saved === undefined) delete process.env.DEBUG;
    else process.env.DEBUG = saved;
  });

  it('is silenced unless DEBUG asks for mqtt.js', () => {
    delete process.env.DEBUG;
    const quiet = mqttClientLog();
    expect(typeof quiet.log).toBe('function');
    expect(quiet.log?.length).toBe(0);
    process.env.DEBUG = 'express:*';
    expect(mqttClientLog().log).toBeDefined();
    for (const asked of ['mqttjs*', 'mqttjs:client', '*', 'app,mqttjs:*']) {
      process.env.DEBUG = asked;
      expect(mqttClientLog(), asked).toEqual({});
    }
  });
});
