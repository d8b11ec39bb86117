import { describe, expect, it } from 'vitest';
import { interpolate } from '../../src/flows/interpolate.ts';

describe('${VAR} interpolation', () => {
  const env = { HOST: 'broker.local', EMPTY: '', PORT: '1884' };

  it('substitutes set variables and reports what it substituted', () => {
    expect(interpolate('mqtt://${HOST}:${PORT}', env)).toEqual({ ok: true, value: 'mqtt://broker.local:1884', substituted: ['broker.local', '1884'], whole: false });
  });
  it('marks a string that is exactly one reference as whole', () => {
    expect(interpolate('${PORT}', env)).toMatchObject({ ok: true, value: '1884', whole: true });
  });
  it('uses the default when the variable is unset or empty', () => {
    expect(interpolate('${NOPE:-mqtt://127.0.0.1:1883}', env)).toMatchObject({ ok: true, value: 'mqtt://127.0.0.1:1883', substituted: [] });
    expect(interpolate('${EMPTY:-x}', env)).toMatchObject({ ok: true, value: 'x' });
    expect(interpolate('${NOPE:-}', env)).toMatchObject({ ok: true, value: '' });
  });
  it('names a missing variable', () => {
    expect(interpolate('${MQTT_PASSWORD}', env)).toEqual({ ok: false, problem: expect.stringContaining('MQTT_PASSWORD is not set') });
  });
  it('rejects malformed references', () => {
    expect(interpolate('${1BAD}', env)).toMatchObject({ ok: false });
    expect(interpolate('${HOST', env)).toMatchObject({ ok: false });
  });
  it('writes $${ as a literal ${', () => {
    expect(interpolate('cost $${HOST}', env)).toMatchObject({ ok: true, value: 'cost ${HOST}' });
  });
});
