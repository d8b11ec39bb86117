import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The quick start's main job: `edgeke demo` on embedded defaults, real data, real models; its --json summary.
describe('edgeke demo', () => {
  it('runs every example flow on the simulated devices and reports a JSON summary', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/edgeke.js', 'demo', '--duration', '10', '--json', '--load', 'steady'], {
      timeout: 90_000,
      env: { ...process.env, INFLUX_URL: '' },
    });
    const summary = JSON.parse(stdout) as {
      flows: { name: string; frames: number; outcomes: Record<string, number>; attainment: number; accuracy: number | null }[];
      warm_up: { name: string; frames: number; outcomes: Record<string, number> }[];
    };
    // The camera's calibration (its own rates, trial bursts included) is counted apart from the 10 s of load.
    const calibration = summary.warm_up.find((flow) => flow.name === 'neu-camera');
    expect(calibration?.frames).toBeGreaterThan(0);
    expect(Object.values(calibration?.outcomes ?? {}).reduce((a, b) => a + b, 0)).toBe(calibration?.frames);
    expect(summary.flows.map((flow) => flow.name).sort()).toEqual(['cwru-mqtt-json', 'cwru-opcua', 'neu-camera']);
    for (const flow of summary.flows) {
      expect(flow.frames, flow.name).toBeGreaterThan(20);
      const outcomes = flow.outcomes as Record<'ok' | 'late' | 'shed' | 'error', number>;
      expect(outcomes.ok + outcomes.late + outcomes.shed + outcomes.error, flow.name).toBe(flow.frames);
      expect(outcomes.error, flow.name).toBe(0);
      expect(flow.attainment, flow.name).toBeGreaterThan(0.9);
      // Under its bursts the camera answers from shallower exits, as it should: neu-surface's exit 1 is 89.7% accurate
      // on its test split (the cwru-bearing exits 92-99%); 5 points below that covers a few hundred frames' sampling.
      expect(flow.accuracy, flow.name).toBeGreaterThan(0.85);
    }
  }, 120_000);
});
