/**
 * Issue #16's "done when", run after run: `edgeke demo --duration 30 --json` N times in a row, each run checked
 * against the criteria (src/demo/demo-criteria.ts: on the camera flow two exits each >= 15% of frames and >= 90% on
 * time, the vibration flows >= 99%), with the machine's load average beside each run: the demo sizes its camera from
 * what the machine gives it at start, so other processes that take the CPU mid-run move the outcome.
 *
 *   node --import tsx bench/demo-runs.ts [--runs 5] [--duration 30]
 * Writes bench/results/demo-runs.json; exits 1 when a run failed a criterion.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { checkDemoCriteria, DONE_WHEN, type DemoJsonSummary } from '../src/demo/demo-criteria.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, duration: { type: 'string', default: '30' } } });
const root = resolve(import.meta.dirname, '..');

interface DemoJson extends DemoJsonSummary {
  camera: { base_rate: number; burst_rate: number | null; burst_rates?: number[] | null; capacity_by_exit: number[] | null };
  flows: (DemoJsonSummary['flows'][number] & { outcomes: Record<string, number>; reasons: Record<string, number> })[];
  warm_up: { name: string; frames: number; outcomes: Record<string, number>; reasons: Record<string, number> }[];
}

const runs = [];
for (let run = 1; run <= Number(values.runs); run++) {
  const loadBefore = loadavg()[0] as number;
  // The V8 flags `npm run demo` runs it with (package.json).
  // LOG_LEVEL=info: the calibration's trial bursts and the run's burst verdicts are logged at info (stderr).
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--v8-pool-size=1', '--max-semi-space-size=1', 'bin/edgeke.js', 'demo', '--duration', String(values.duration), '--json'], {
    cwd: root,
    env: { ...process.env, INFLUX_URL: '', LOG_LEVEL: 'info' },
    maxBuffer: 64 * 2 ** 20,
  });
  const summary = JSON.parse(stdout) as DemoJson;
  const report = checkDemoCriteria(summary);
  const loadAfter = loadavg()[0] as number;
  const camera = summary.flows.find((flow) => flow.name === DONE_WHEN.cameraFlow);
  runs.push({ run, loadavg1: [loadBefore, loadAfter], camera: summary.camera, bursts: burstsLogged(stderr), ...report, cameraOutcomes: camera?.outcomes ?? null, cameraReasons: camera?.reasons ?? null, warmUp: summary.warm_up });
  const shares = Object.entries(report.cameraExitShares).map(([exit, share]) => `e${exit} ${(share * 100).toFixed(1)}%`).join(' ');
  const onTime = Object.entries(report.onTime).map(([flow, share]) => `${flow} ${(share * 100).toFixed(1)}%`).join(', ');
  console.log(
    `run ${run}: bursts ${(summary.camera.burst_rates ?? [summary.camera.burst_rate]).join('/')} fr/s; camera exits ${shares}; on time ${onTime}; load ${loadBefore.toFixed(1)}-${loadAfter.toFixed(1)}; ` +
      (report.failures.length === 0 ? 'PASS' : `FAIL (${report.failures.join('; ')})`),
  );
}
/** The calibration's trial bursts and the run's judged bursts, from the demo's log lines: rate, shares and verdict. */
function burstsLogged(log: string): { kind: 'trial' | 'run'; rate: number; onTime: number; shallow: number; verdict: string }[] {
  const bursts = [];
  for (const line of log.split('\n')) {
    if (!line.includes('burst')) continue;
    let record: { msg?: string; rate?: number; frames?: number; answered?: number; onTime?: number; busiestShallow?: number; verdict?: string };
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    const kind: 'trial' | 'run' | undefined = record.msg === 'trial burst' ? 'trial' : record.msg === 'demo burst judged' ? 'run' : undefined;
    if (kind === undefined || record.rate === undefined) continue;
    const share = (part: number | undefined, whole: number | undefined) => (whole ? Number(((part ?? 0) / whole).toFixed(3)) : 0);
    bursts.push({ kind, rate: Math.round(record.rate), onTime: share(record.onTime, record.frames), shallow: share(record.busiestShallow, record.answered), verdict: record.verdict ?? '' });
  }
  return bursts;
}

const passed = runs.filter((run) => run.failures.length === 0).length;
console.log(`${passed}/${runs.length} runs met every criterion`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(root, 'bench', 'results', 'demo-runs.json'),
  `${JSON.stringify({ measuredAt: new Date().toISOString(), cpu: cpus()[0]?.model, cores: availableParallelism(), criteria: DONE_WHEN, passed, runs }, null, 2)}\n`,
);
process.exitCode = passed === runs.length ? 0 : 1;
