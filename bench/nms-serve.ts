/**
 * node-media-server 4.x in its own process, for the comparison in rtmp-fanout.ts: RTMP only on
 * 127.0.0.1:<port>, no HTTP/WebSocket/HTTPS/RTMPS, no auth, no recording, logging at "error".
 * It is installed at run time into bench/.cache/nms (never into the project's package.json).
 *
 *   node --import tsx bench/nms-serve.ts --port 19350 --nms-dir bench/.cache/nms --data-dir /tmp/x
 *
 * Prints `{"event":"ready","pid":…,"rtmpPort":…,"version":…}` once listening.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stopOnSignals } from './server-lifecycle';
import { tcpOpen } from './tools';

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'nms-dir': { type: 'string' }, 'data-dir': { type: 'string' } },
});
const port = Number(values.port);
const nmsDir = path.resolve(values['nms-dir'] ?? 'bench/.cache/nms');
const dataDir = path.resolve(values['data-dir'] ?? path.join(nmsDir, 'data'));
if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required');

const require = createRequire(path.join(nmsDir, 'package.json'));
type Nms = { run(): Promise<void> | void; stop(): Promise<void> };
const NodeMediaServer = require('node-media-server') as new (config: object, configPath: string) => Nms;
const logger = require('node-media-server/src/core/logger.js') as { level: string };
const version = (require('node-media-server/package.json') as { version: string }).version;

mkdirSync(dataDir, { recursive: true });
const config = {
  bind: '127.0.0.1',
  rtmp: { port },
  store: { path: path.join(dataDir, 'store') },
  record: { auto: false, path: path.join(dataDir, 'record') },
  notify: { url: '' },
};
const configPath = path.join(dataDir, 'config.json');
writeFileSync(configPath, JSON.stringify(config));

// Its constructor logs banners and sets the level to "debug" (one line per connection).
const origLog = console.log;
console.log = () => undefined;
const nms = new NodeMediaServer(config, configPath);
logger.level = 'error';
await nms.run();
console.log = origLog;

// Wait until the RTMP port accepts connections.
for (let i = 0; i < 100; i++) {
  if (await tcpOpen(port)) break;
  await new Promise((r) => setTimeout(r, 100));
}
console.log(JSON.stringify({ event: 'ready', pid: process.pid, rtmpPort: port, version }));

stopOnSignals(() => nms.stop(), 3000);
