/**
 * Issue #16's "done when" for `edgeke demo --duration 30 --json`, checked on its output: on the camera flow at least
 * two exits each answer >= 15% of frames, the camera flow is >= 90% on time through its bursts, and the vibration
 * flows are >= 99% on time. `bench/demo-runs.ts` runs the demo and checks every run with it. Pure.
 */

/** The part of the demo's `--json` summary the criteria read. */
export interface DemoJsonSummary {
  flows: { name: string; frames: number; attainment: number; exits: Record<string, number> }[];
}

export interface DemoCriteria {
  /** The flow whose bursts must make the controller trade depth for time. */
  cameraFlow: string;
  /** Exits that must each answer at least `exitShare` of the camera's frames. */
  exitsAtLeast: number;
  exitShare: number;
  cameraOnTime: number;
  /** Every other flow's on-time share. */
  othersOnTime: number;
}

export const DONE_WHEN: DemoCriteria = { cameraFlow: 'neu-camera', exitsAtLeast: 2, exitShare: 0.15, cameraOnTime: 0.9, othersOnTime: 0.99 };

export interface CriteriaReport {
  /** Per exit, its share of the camera's frames (shed frames count in the denominator). */
  cameraExitShares: Record<string, number>;
  /** Per flow, its on-time share. */
  onTime: Record<string, number>;
  /** What failed, one line each; empty when every criterion holds. */
  failures: string[];
}

export function checkDemoCriteria(summary: DemoJsonSummary, criteria: DemoCriteria = DONE_WHEN): CriteriaReport {
  const failures: string[] = [];
  const onTime = Object.fromEntries(summary.flows.map((flow) => [flow.name, flow.attainment]));
  const camera = summary.flows.find((flow) => flow.name === criteria.cameraFlow);
  const cameraExitShares: Record<string, number> = {};
  if (camera === undefined || camera.frames === 0) {
    failures.push(`no frames of ${criteria.cameraFlow}`);
  } else {
    for (const [exit, count] of Object.entries(camera.exits)) cameraExitShares[exit] = count / camera.frames;
    const broad = Object.values(cameraExitShares).filter((share) => share >= criteria.exitShare).length;
    if (broad < criteria.exitsAtLeast) failures.push(`${criteria.cameraFlow}: ${broad} exit(s) answer >= ${pct(criteria.exitShare)} of frames, not ${criteria.exitsAtLeast}`);
    if (camera.attainment < criteria.cameraOnTime) failures.push(`${criteria.cameraFlow}: ${pct(camera.attainment)} on time, under ${pct(criteria.cameraOnTime)}`);
  }
  for (const flow of summary.flows) {
    if (flow.name !== criteria.cameraFlow && flow.attainment < criteria.othersOnTime) failures.push(`${flow.name}: ${pct(flow.attainment)} on time, under ${pct(criteria.othersOnTime)}`);
  }
  return { cameraExitShares, onTime, failures };
}

const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;
