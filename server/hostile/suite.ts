/**
 * How an attacker is run in `npm test` (short) and `npm run hostile` (HOSTILE_LONG=1: longer, stronger):
 * one server child process and one set of victims per test file, one `test` per attacker. Each test
 * checks the victims during the attack and for a while after it, plus what the attacker itself
 * observed (an answer it should have had, a process count...). A server that died or victims that
 * were disconnected are started afresh for the next attacker, so one failure does not hide the others.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rssBytes, startServerProcess, type ServerProcess } from './server-process';
import { mb, Victims, type VictimsOptions } from './victims';

export const LONG = process.env.HOSTILE_LONG === '1';

/** One line to the test's output. */
export const say = (line: string): void => void process.stdout.write(`${line}\n`);

export interface AttackContext {
  server: ServerProcess;
  /** The victims' stream (live, watched). */
  victim: { id: string; key: string };
  long: boolean;
  /** A loopback address for the attacker's sockets: 127.0.0.(2 + n). */
  addr(n?: number): string;
  /** Set when the caller (the soak) wants the attack to end early. */
  signal?: AbortSignal;
  log(line: string): void;
}

export interface AttackResult {
  /** What the attacker saw, for the log. */
  notes: string[];
  /** What went wrong by the attacker's own measure (e.g. "socket left hanging"). Empty: fine. */
  problems: string[];
}

export interface Attack {
  /** Short name, e.g. "item 1: upgrade to //[". */
  name: string;
  run(ctx: AttackContext): Promise<AttackResult>;
}

export function attackContext(server: ServerProcess, victim: { id: string; key: string }, opts: { long?: boolean; signal?: AbortSignal; log?: (l: string) => void } = {}): AttackContext {
  return {
    server,
    victim,
    long: opts.long ?? LONG,
    addr: (n = 0) => `127.0.0.${2 + (n % 250)}`,
    signal: opts.signal,
    log: opts.log ?? ((l) => say(`    ${l}`)),
  };
}

/** RSS over the fresh server's that makes the suite restart it before the next attack. */
const LEFTOVER_RSS = 64 * 1024 * 1024;

/** Seconds of quiet watching after each attack. */
const AFTER_MS = LONG ? 5000 : 1500;

/**
 * A describe() block: start the server and victims, run each attack as its own test.
 * `env` configures the server (limits small enough for a short attack to reach them).
 */
export function hostileSuite(name: string, attacks: Attack[], opts: { env?: Record<string, string>; victims?: VictimsOptions } = {}): void {
  describe(name, { concurrency: false }, () => {
    let server: ServerProcess | null = null;
    let victims: Victims | null = null;

    let freshRss = 0;
    const up = async () => {
      if (server && victims && victims.healthy()) {
        // A server an earlier attack left bloated is restarted, so RSS growth is measured from a fresh one.
        const rss = rssBytes(server.pid);
        if (rss <= freshRss + LEFTOVER_RSS) return;
        say(`  [hostile] restarting the server: RSS ${mb(rss)} left by the previous attack (fresh: ${mb(freshRss)})`);
      }
      await victims?.stop();
      await server?.stop(2000);
      server = await startServerProcess(opts.env ?? {});
      victims = await Victims.start(server, opts.victims);
      freshRss = rssBytes(server.pid);
    };

    before(up);
    after(async () => {
      await victims?.stop();
      await server?.stop();
    });

    for (const attack of attacks) {
      test(attack.name, async () => {
        await up();
        const s = server!;
        const v = victims!;
        const lines: string[] = [];
        const ctx = attackContext(s, v.stream, { log: (l) => lines.push(l) });
        const t0 = v.mark();
        let result: AttackResult;
        try {
          result = await attack.run(ctx);
        } catch (err) {
          result = { notes: [], problems: [`the attacker failed: ${(err as Error).stack ?? String(err)}`] };
        }
        const during = v.report(t0);
        const t1 = v.mark();
        // Watch a while longer (a server that is dying gets a moment to be seen dead).
        const until = Date.now() + (s.alive() ? AFTER_MS : 1000);
        while (Date.now() < until && (s.alive() || Date.now() < t1 + 1000)) await new Promise((r) => setTimeout(r, 100));
        const afterR = v.report(t1);
        // RSS is measured against the value before the attack, in both windows.
        afterR.rssStart = during.rssStart;
        const problems = [...new Set([
          ...result.problems.map((p) => `attacker: ${p}`),
          ...v.problems(during, { serverExit: false }).map((p) => `during: ${p}`),
          ...v.problems(afterR, { after: true }).map((p) => `after: ${p}`),
        ])];
        say(`  [hostile] ${attack.name}${LONG ? ' (long)' : ''}`);
        for (const n of [...result.notes, ...lines]) say(`    ${n}`);
        say(`    during (${((during.toMs - during.fromMs) / 1000).toFixed(1)} s): ${v.describe(during)}`);
        if (s.alive()) say(`    after  (${((afterR.toMs - afterR.fromMs) / 1000).toFixed(1)} s): ${v.describe(afterR)}`);
        for (const p of problems) say(`    PROBLEM ${p}`);
        if (problems.length) assert.fail(`${attack.name}:\n  ${problems.join('\n  ')}`);
      });
    }
  });
}
