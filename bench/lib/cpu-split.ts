/**
 * Where the service's CPU goes, per load of the overload benchmark. Two sources, neither needing code in src/:
 *   - /proc/<pid>/task/<tid>/stat: CPU time of each thread of the service (exact, 10 ms ticks). The main thread runs
 *     the event loop (MQTT, JSON, ONNX Runtime's run: synchronous there, the planner, the sinks); off the main
 *     thread, libuv's threadpool decodes images (sharp) and V8's helper thread collects garbage.
 *   - a V8 CPU profile of the main thread (`node --cpu-prof`): each sample's stack is put in one category by the
 *     innermost frame of EdgeKE's own code it passes through (else the library it is in). The main thread's measured
 *     CPU is then split in the proportions of its samples: an estimate, sampled every millisecond.
 */

export const CPU_CATEGORIES = ['receive', 'decode', 'plan', 'inference', 'sinks', 'ack', 'pipeline', 'gc', 'other'] as const;
export type CpuCategory = (typeof CPU_CATEGORIES)[number];

export interface CallFrame {
  functionName: string;
  url: string;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The JSON written by `node --cpu-prof` (a V8 CpuProfile). Times are microseconds of the monotonic clock. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const PIPELINE_STAGES: readonly (readonly [string, CpuCategory])[] = [
  ['pipeline/message-intake', 'receive'],
  ['pipeline/operators/decode-messages', 'decode'],
  ['pipeline/operators/shed-hopeless-on-arrival', 'plan'],
  ['pipeline/operators/infer-frames', 'inference'],
  ['pipeline/operators/store-results', 'sinks'],
  ['pipeline/operators/acknowledge-stored', 'ack'],
];

/** The category of one frame of EdgeKE's own code (src/...), else undefined. */
function ownCategory(frame: CallFrame): CpuCategory | undefined {
  const url = frame.url;
  const at = url.lastIndexOf('/src/');
  if (at < 0 || url.includes('/node_modules/')) return undefined;
  const path = url.slice(at + 5);
  if (path.startsWith('sources/mqtt-ack-tracker') || (path.startsWith('sources/mqtt-transport') && frame.functionName === 'puback')) return 'ack';
  // The pipeline's stage operators (src/pipeline/operators/, main after issue #13's rewrite) say which stage they are.
  const stage = PIPELINE_STAGES.find(([prefix]) => path.startsWith(prefix));
  if (stage !== undefined) return stage[1];
  if (path.startsWith('sources/')) return 'receive';
  if (path.startsWith('decode/')) return 'decode';
  if (path.startsWith('control/')) return 'plan';
  if (path.startsWith('model/')) return 'inference';
  if (path.startsWith('sinks/')) return 'sinks';
  if (path.startsWith('pipeline/')) return 'pipeline';
  return 'other';
}

/** The category of a library frame, when it says what the work is for; undefined otherwise. */
function libraryCategory(frame: CallFrame): CpuCategory | undefined {
  const url = frame.url;
  if (frame.functionName === '(garbage collector)') return 'gc';
  if (url.includes('/node_modules/onnxruntime-')) return 'inference';
  if (url.includes('/node_modules/sharp/')) return 'decode';
  if (url.includes('/node_modules/influx/')) return 'sinks';
  if (url.includes('/node_modules/mqtt') || url.includes('/node_modules/mqtt-packet/')) return 'receive';
  if (url.includes('/node_modules/rxjs/')) return 'pipeline';
  return undefined;
}

/**
 * Categorises every node of a profile: walking from a node to the root, the innermost frame of EdgeKE's code decides
 * (it says what the work is for: a PUBACK written by mqtt.js for the ack tracker is ack, not receive); with none on
 * the stack, the innermost library that says; else other. `(idle)` and `(program)` nodes get undefined / other.
 */
export function categoriseNodes(profile: CpuProfile): Map<number, CpuCategory | 'idle'> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const result = new Map<number, CpuCategory | 'idle'>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName === '(idle)') {
      result.set(node.id, 'idle');
      continue;
    }
    let own: CpuCategory | undefined;
    let library: CpuCategory | undefined;
    for (let id: number | undefined = node.id; id !== undefined && own === undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (frame === undefined) break;
      own = ownCategory(frame);
      library ??= libraryCategory(frame);
    }
    result.set(node.id, own ?? library ?? 'other');
  }
  return result;
}

export interface TimeWindow {
  name: string;
  /** Monotonic-clock microseconds (as process.hrtime.bigint() / 1000 and V8 profile times). */
  startUs: number;
  endUs: number;
}

export type CategoryCounts = Record<CpuCategory, number>;

export function emptyCounts(): CategoryCounts {
  return Object.fromEntries(CPU_CATEGORIES.map((c) => [c, 0])) as CategoryCounts;
}

/** Non-idle samples per category inside each window, each weighted by its time delta (microseconds). */
export function samplesPerWindow(profile: CpuProfile, windows: readonly TimeWindow[]): Map<string, CategoryCounts> {
  const categories = categoriseNodes(profile);
  const out = new Map<string, CategoryCounts>(windows.map((w) => [w.name, emptyCounts()]));
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    const category = categories.get(profile.samples[i] as number);
    if (category === undefined || category === 'idle') continue;
    const window = windows.find((w) => t >= w.startUs && t < w.endUs);
    if (window === undefined) continue;
    const counts = out.get(window.name) as CategoryCounts;
    // The sample stands for the time since the previous one (V8's delta), capped so one long gap cannot dominate.
    counts[category] += Math.min(delta, 5_000);
  }
  return out;
}

/**
 * Thread CPU of the service over a window, in ms. Node 20 names nearly all its threads "node", so only the main
 * thread (tid = pid) and V8's profiler threads can be told apart; the rest are libuv's threadpool (sharp/libvips
 * image decoding, file I/O), V8's one helper thread (concurrent GC) and tsx's idle loader thread.
 */
export interface ThreadCpu {
  main: number;
  offMain: number;
  /** The sampling profiler's own threads (`v8:ProfEvntProc`): cost of measuring, not of the service. */
  profiler: number;
}

export function threadRole(tid: number, pid: number, comm: string): keyof ThreadCpu {
  if (tid === pid) return 'main';
  if (comm.startsWith('v8:Prof')) return 'profiler';
  return 'offMain';
}

export interface CpuPerFrame extends CategoryCounts {
  /** Everything the process used, profiler threads included. */
  total: number;
  main_thread: number;
  /** Threadpool (sharp decoding for images), V8 helper thread: measured, not split. */
  off_main_thread: number;
  profiler: number;
  /** Whether the main thread was split from profile samples (else it is all under other). */
  profiled: boolean;
}

/**
 * CPU ms per frame: the main thread's CPU split in the proportions of its profile samples; off-main-thread CPU and
 * the profiler's own threads reported beside it, unsplit. Without a profile the main thread stays under other.
 */
export function cpuPerFrame(threads: ThreadCpu, counts: CategoryCounts | undefined, frames: number): CpuPerFrame {
  const split = emptyCounts();
  const sampled = counts === undefined ? 0 : CPU_CATEGORIES.reduce((sum, c) => sum + counts[c], 0);
  if (counts !== undefined && sampled > 0) for (const c of CPU_CATEGORIES) split[c] += (threads.main * counts[c]) / sampled;
  else split.other += threads.main;
  const perFrame = (ms: number): number => (frames === 0 ? 0 : ms / frames);
  const out = Object.fromEntries(CPU_CATEGORIES.map((c) => [c, perFrame(split[c])])) as CategoryCounts;
  return {
    ...out,
    total: perFrame(threads.main + threads.offMain + threads.profiler),
    main_thread: perFrame(threads.main),
    off_main_thread: perFrame(threads.offMain),
    profiler: perFrame(threads.profiler),
    profiled: sampled > 0,
  };
}
