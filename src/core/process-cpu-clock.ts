import { readFileSync } from 'node:fs';

/** Linux counts a thread's CPU time in USER_HZ ticks, 100 per second on every architecture Node runs on. */
const MS_PER_TICK = 10;

/**
 * This process's clocks for the controller's other-work meter (src/control/other-work-share.ts, `CpuClock`): wall
 * time, CPU time of all threads, and CPU time of the main thread. The main thread's figure comes from
 * /proc/self/task/<pid>/stat (CPU, not the event loop's busy wall time, which on a contended core also counts the
 * time the thread waited for the CPU); it is undefined where that file cannot be read.
 */
export const processCpuClock = {
  cpuMs: (): number => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  },
  nowMs: (): number => performance.now(),
  mainThreadCpuMs: (): number | undefined => mainThreadCpu.read(),
};

class MainThreadCpu {
  private readable = true;
  private readonly file = `/proc/self/task/${process.pid}/stat`;

  read(): number | undefined {
    if (!this.readable) return undefined;
    try {
      const stat = readFileSync(this.file, 'utf8');
      // Fields after the command name (in parentheses, which may hold spaces): state is the 1st, utime the 12th,
      // stime the 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (Number.isFinite(ticks)) return ticks * MS_PER_TICK;
    } catch {
      // Not Linux, or /proc not mounted: the meter falls back to the process's CPU time alone.
    }
    this.readable = false;
    return undefined;
  }
}

const mainThreadCpu = new MainThreadCpu();
