/**
 * The overload benchmark's view of a service process from outside: `edgeke run` spawned pinned to a core, its
 * readiness, and its CPU (per thread) and memory read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { threadRole, type ThreadCpu } from './cpu-split.ts';

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime (ms) of every thread of `pid`, with its name. */
export function threadTimes(pid: number): Map<number, { comm: string; ms: number }> {
  const out = new Map<number, { comm: string; ms: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      out.set(Number(tid), { comm, ms: (ticks * 1000) / CLOCK_TICKS_PER_SECOND });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU used between two snapshots, by thread role. A thread that ended in between is lost (its last ticks with it). */
export function cpuBetween(pid: number, before: Map<number, { comm: string; ms: number }>, after: Map<number, { comm: string; ms: number }>): ThreadCpu {
  const cpu: ThreadCpu = { main: 0, offMain: 0, profiler: 0 };
  for (const [tid, now] of after) cpu[threadRole(tid, pid, now.comm)] += now.ms - (before.get(tid)?.ms ?? 0);
  return cpu;
}

export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? 0 : Number(match[1]) / 1024;
  } catch {
    return 0;
  }
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  httpPort: number;
  stderrTail: () => string;
  stop: () => Promise<number | null>;
}

/** Spawns `node bin/edgeke.js run <flowFile> --no-watch` on `core`, and waits until /readyz answers 200. */
export async function startServiceProcess(options: {
  root: string;
  flowFile: string;
  core: number;
  env: Record<string, string>;
  httpPort: number;
  cpuProfDir?: string;
}): Promise<ServiceProcess> {
  const nodeArgs = ['--v8-pool-size=1', '--max-semi-space-size=1', ...(options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir])];
  const child = spawn('taskset', ['-c', String(options.core), process.execPath, ...nodeArgs, 'bin/edgeke.js', 'run', options.flowFile, '--no-watch'], {
    cwd: options.root,
    // As the container image runs it (Dockerfile): MALLOC_ARENA_MAX=2, one V8 helper thread, a 1 MiB young generation.
    env: { ...process.env, MALLOC_ARENA_MAX: '2', LOG_LEVEL: 'warn', EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(options.httpPort), ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode} before it was ready: ${tail}`);
    try {
      if ((await fetch(`http://127.0.0.1:${options.httpPort}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service not ready within 120 s: ${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    child,
    pid: child.pid as number,
    httpPort: options.httpPort,
    stderrTail: () => tail,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
