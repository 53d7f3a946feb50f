// Peak memory and CPU time of the processes a benchmark starts, read from /proc (Linux).
import { ProcessGroup } from '@hitl/testkit';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Watched {
  pid: number;
  /** VmHWM, the process's peak resident set size, in KiB. */
  peakKiB: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

/**
 * VmHWM (peak) and VmRSS (now), in KiB, and utime + stime (ticks) of a running process; null once
 * it is gone.
 */
export function readUsage(pid: number): { peakKiB: number; rssKiB: number; cpuTicks: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const kiB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
    // Fields after the command name (which is in parentheses and may hold spaces): utime and
    // stime are the 14th and 15th fields of the line, the 12th and 13th after ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { peakKiB: kiB('VmHWM'), rssKiB: kiB('VmRSS'), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/**
 * The peak resident set size (VmHWM) and CPU time of each process a benchmark starts, by name,
 * sampled every `intervalMs` from /proc/<pid>/status and /proc/<pid>/stat while it runs. VmHWM
 * is the kernel's own high-water mark of the process (worker threads included), so sampling only
 * has to see it once before the process exits: `sample()` it before stopping a process.
 */
export class UsageMonitor {
  private readonly watched = new Map<string, Watched[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 250) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /**
   * Watches a started process under `name`. Processes watched under the same name (one service
   * started again, or its instances) count together: the highest peak, the sum of CPU time.
   */
  watch(name: string, child: ChildProcess): ChildProcess {
    if (child.pid === undefined) throw new Error(`${name} has no pid`);
    const list = this.watched.get(name) ?? [];
    list.push({ pid: child.pid, peakKiB: 0, cpuTicks: 0 });
    this.watched.set(name, list);
    this.sample();
    return child;
  }

  sample(): void {
    for (const list of this.watched.values()) {
      for (const w of list) {
        const usage = readUsage(w.pid);
        if (!usage) continue;
        w.peakKiB = Math.max(w.peakKiB, usage.peakKiB);
        w.cpuTicks = Math.max(w.cpuTicks, usage.cpuTicks);
      }
    }
  }

  /** CPU seconds (user + system) the processes of each name have used so far. */
  cpuSeconds(): Record<string, number> {
    this.sample();
    return Object.fromEntries(
      [...this.watched].map(([name, list]) => [
        name,
        list.reduce((sum, w) => sum + w.cpuTicks, 0) / TICKS_PER_SECOND,
      ]),
    );
  }

  /** The highest peak RSS of the processes of each name, in MB (10^6 bytes), one decimal. */
  peakRssMb(): Record<string, number> {
    this.sample();
    return Object.fromEntries(
      [...this.watched].map(([name, list]) => [name, toMb(Math.max(...list.map((w) => w.peakKiB)))]),
    );
  }

  /** Samples, then stops a process (SIGTERM by default) and waits for its exit. */
  async stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.sample();
    await ProcessGroup.stop(child, signal);
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/** This process's own peak RSS in MB (process.resourceUsage().maxRSS is in KiB). */
export function ownPeakRssMb(): number {
  return toMb(process.resourceUsage().maxRSS);
}

/** KiB (as /proc gives them) in MB (10^6 bytes), to 0.1 MB. */
export const toMb = (kiB: number): number => Math.round((kiB * 1024) / 1e5) / 10;
