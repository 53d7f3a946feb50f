import { SERVICE_NODE_FLAGS } from '@hitl/service-kit';
import { spawn, type ChildProcess } from 'node:child_process';

export interface StartProcessOptions {
  cwd: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Resolve once stdout shows this (default: the service kit's start log line). */
  readyText?: string;
}

/**
 * Runs a TypeScript entry point in node itself (tsx as a loader, not the tsx wrapper process),
 * with the services' V8 flags, so that a signal — SIGKILL in crash tests — lands on the process
 * doing the work. Keeps the
 * children it started so a test can stop whatever is left.
 */
export class ProcessGroup {
  private readonly children: ChildProcess[] = [];

  start(script: string, opts: StartProcessOptions): Promise<ChildProcess> {
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, '--import', 'tsx', script], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    const readyText = opts.readyText ?? '"msg":"service started"';
    return new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`${script} exited with ${code ?? signal}`)));
      let seen = '';
      child.stdout.on('data', (chunk: Buffer) => {
        // Keep a tail so that a line split across chunks is still found.
        seen = (seen + chunk.toString()).slice(-4 * readyText.length - 4096);
        if (seen.includes(readyText)) resolve(child);
      });
    });
  }

  /** Sends the signal and waits for the exit (at once if it already exited). */
  static async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Kills every child still running. */
  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const child of this.children.splice(0)) await ProcessGroup.stop(child, signal);
  }
}
