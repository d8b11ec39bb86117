import { describe, expect, it } from 'vitest';
import { checkDemoCriteria } from '../../src/demo/demo-criteria.ts';

const vibration = (name: string, attainment: number) => ({ name, frames: 175, attainment, exits: { '3': Math.round(175 * attainment) } });

describe("the demo's done-when (issue #16)", () => {
  it('passes two broad camera exits, 90% camera and 99% vibration on time', () => {
    const report = checkDemoCriteria({
      flows: [{ name: 'neu-camera', frames: 1_000, attainment: 0.93, exits: { '1': 160, '2': 40, '3': 730 } }, vibration('cwru-mqtt-json', 1), vibration('cwru-opcua', 0.994)],
    });
    expect(report.failures).toEqual([]);
    expect(report.cameraExitShares).toEqual({ '1': 0.16, '2': 0.04, '3': 0.73 });
  });

  it('names each criterion that fails', () => {
    // Shed frames count in the shares' denominator: 150 of 1,000 frames is 15%, 149 is not.
    const report = checkDemoCriteria({
      flows: [{ name: 'neu-camera', frames: 1_000, attainment: 0.89, exits: { '1': 149, '3': 741 } }, vibration('cwru-mqtt-json', 0.983)],
    });
    expect(report.failures).toEqual([
      'neu-camera: 1 exit(s) answer >= 15.0% of frames, not 2',
      'neu-camera: 89.0% on time, under 90.0%',
      'cwru-mqtt-json: 98.3% on time, under 99.0%',
    ]);
    expect(checkDemoCriteria({ flows: [vibration('cwru-opcua', 1)] }).failures).toEqual(['no frames of neu-camera']);
  });
});
