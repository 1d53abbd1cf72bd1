/**
 * One ffmpeg process per browser broadcast: chunks in on stdin, RTMP out, progress on stdout.
 * It is always reaped: `end()` closes stdin and kills it if it lingers; `kill()` kills it now.
 * If this process dies, ffmpeg's stdin closes and it exits on its own.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ProgressParser, type FfmpegProgress } from '../ffmpeg/args';

export interface BridgeOptions {
  ffmpegPath: string;
  args: string[];
  onProgress?: (p: FfmpegProgress) => void;
  /** ffmpeg ended; `error` is set when it failed (its last error line). */
  onExit?: (result: { code: number | null; signal: NodeJS.Signals | null; error: string | null }) => void;
  /** How long ffmpeg may take to finish after stdin closes before it is killed. */
  lingerMs?: number;
}

const STDERR_TAIL = 8 * 1024;

export class FfmpegBridge {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderrTail = '';
  private killTimer: ReturnType<typeof setTimeout> | null = null;
  private ended = false;
  readonly exited: Promise<void>;
  exitCode: number | null = null;
  private running = true;

  constructor(private readonly opts: BridgeOptions) {
    this.child = spawn(opts.ffmpegPath, opts.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const parser = new ProgressParser((p) => opts.onProgress?.(p));
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => parser.push(d));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_TAIL);
    });
    // EPIPE when ffmpeg has gone: reported through 'close'.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderrTail += `\n${err.message}`;
      });
      this.child.on('close', (code, signal) => {
        this.running = false;
        this.exitCode = code;
        if (this.killTimer) clearTimeout(this.killTimer);
        const failed = !this.ended && (code !== 0 || signal !== null);
        const failedAfterEnd = this.ended && code !== 0 && signal === null;
        opts.onExit?.({ code, signal, error: failed || failedAfterEnd ? this.lastError() : null });
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.running;
  }

  /** Bytes written to stdin that ffmpeg has not read yet. */
  get bufferedBytes(): number {
    return this.child.stdin.writableLength;
  }

  /** Write a chunk; false means "wait for drain". */
  write(chunk: Buffer): boolean {
    if (!this.running || this.ended) return true;
    return this.child.stdin.write(chunk);
  }

  onDrain(fn: () => void): void {
    this.child.stdin.once('drain', fn);
  }

  /** The last meaningful line ffmpeg printed, for error messages. */
  lastError(): string {
    const lines = this.stderrTail.split('\n').map((l) => l.trim()).filter(Boolean);
    return lines.at(-1) ?? 'ffmpeg exited';
  }

  /** No more input: let ffmpeg flush and exit; kill it if it takes too long. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.child.stdin.end();
    if (this.running) {
      this.killTimer = setTimeout(() => this.kill(), this.opts.lingerMs ?? 3000);
      this.killTimer.unref?.();
    }
  }

  /** SIGKILL at once (the process is going away and cannot wait). */
  killNow(): void {
    this.ended = true;
    if (this.running) this.child.kill('SIGKILL');
  }

  /** Stop now. SIGKILL follows if SIGTERM is not enough. */
  kill(): void {
    this.ended = true;
    if (!this.running) return;
    this.child.stdin.destroy();
    this.child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (this.running) this.child.kill('SIGKILL');
    }, 1000);
    t.unref?.();
  }
}
