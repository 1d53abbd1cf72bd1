/**
 * A raw HTTP/1.1 client over a real socket for tests: send any bytes (pipelined requests, malformed heads), collect
 * everything the server writes, parse the answers received so far. Bodies are delimited by Content-Length only.
 */
import net from 'node:net';

export interface RawAnswer {
  status: number;
  /** The status line and headers as received. */
  head: string;
  /** Header names lower-cased. */
  headers: Map<string, string>;
  body: string;
}

export class RawHttp {
  readonly socket: net.Socket;
  data = '';
  closed = false;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.data += d));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  send(text: string): this {
    this.socket.write(text);
    return this;
  }

  /** Polls until `test` holds; throws with what was received when `ms` pass first. */
  async until(what: string, test: (r: RawHttp) => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test(this)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.slice(0, 500))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The complete answers received so far, in order (`headOnly`: answers to HEAD, which have no body). */
  answers(headOnly = false): RawAnswer[] {
    const out: RawAnswer[] = [];
    let at = 0;
    while (at < this.data.length) {
      const end = this.data.indexOf('\r\n\r\n', at);
      if (end < 0) break;
      const head = this.data.slice(at, end);
      const lines = head.split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) headers.set(l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim());
      const len = headOnly ? 0 : Number(headers.get('content-length') ?? 0);
      if (end + 4 + len > this.data.length) break;
      out.push({ status: Number(lines[0].split(' ')[1]), head, headers, body: this.data.slice(end + 4, end + 4 + len) });
      at = end + 4 + len;
    }
    return out;
  }

  /** Status codes of the complete answers so far. */
  statuses(): number[] {
    return this.answers().map((a) => a.status);
  }

  close(): void {
    this.socket.destroy();
  }
}
