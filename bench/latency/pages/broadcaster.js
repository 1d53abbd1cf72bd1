// The broadcaster: a canvas pixel clock at 30 fps (+ a quiet oscillator) -> MediaRecorder (H.264/Opus
// WebM) -> the /ingest WebSocket, per docs/ingest-protocol.md. Query: ws, id, key, timeslice, vbps,
// audio (0: no audio track).
import { drawClock, WIDTH, HEIGHT } from '/pixel-clock.js';
import { WebmTiming } from '/webm-timing.js';

const q = new URLSearchParams(location.search);
const timeslice = Number(q.get('timeslice') || 250);
const withAudio = q.get('audio') !== '0';
const MIME = withAudio ? 'video/webm;codecs=h264,opus' : 'video/webm;codecs=h264';
const state = {
  phase: 'starting',
  error: null,
  drawn: 0,
  chunks: 0,
  bytes: 0,
  /** ms between ondataavailable events (last 200). */
  chunkGaps: [],
  lastChunkAt: 0,
  maxBufferedAmount: 0,
  serverStats: null,
  visibility: document.visibilityState,
  closed: null,
  audio: null,
};
const recorderAges = { video: [], audio: [] };
window.bench = {
  state,
  /** Ages (ms) of the frames MediaRecorder handed out since the last call. */
  takeRecorderAges() {
    const r = { video: recorderAges.video.splice(0), audio: recorderAges.audio.splice(0) };
    return r;
  },
};
const status = document.getElementById('status');
const show = () => (status.textContent = JSON.stringify({ ...state, chunkGaps: undefined }, null, 1));

const canvas = document.getElementById('c');
const ctx = canvas.getContext('2d', { alpha: false });
canvas.width = WIDTH;
canvas.height = HEIGHT;

// Draw at most 30 times a second (the capture takes one frame at most every 1/30 s, and raster work
// on a 2-core machine without GPU is not free). Animation frames when they come; but Chromium
// throttles rAF in a page that is not in front (headless too, whatever visibilityState says), so a
// 10 ms timer (not throttled: --disable-background-timer-throttling) draws when rAF has not.
const FRAME_MS = 1000 / 30 - 2;
let lastDraw = -1e9;
state.rafDraws = 0;
function draw() {
  lastDraw = performance.now();
  drawClock(ctx, Date.now(), state.drawn++);
}
function raf() {
  if (performance.now() - lastDraw >= FRAME_MS) {
    draw();
    state.rafDraws++;
  }
  requestAnimationFrame(raf);
}
requestAnimationFrame(raf);
setInterval(() => {
  state.visibility = document.visibilityState;
  if (performance.now() - lastDraw >= FRAME_MS + 8) draw();
}, 10);

async function main() {
  if (!MediaRecorder.isTypeSupported(MIME)) throw new Error(`MediaRecorder does not support ${MIME}`);
  const stream = canvas.captureStream(30);
  const ac = new AudioContext({ sampleRate: 48000 });
  const osc = ac.createOscillator();
  osc.frequency.value = 440;
  const gain = ac.createGain();
  gain.gain.value = 0.02;
  const dest = ac.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  await ac.resume().catch(() => undefined);
  state.audio = withAudio ? ac.state : 'none';
  if (withAudio) stream.addTrack(dest.stream.getAudioTracks()[0]);

  const ws = new WebSocket(q.get('ws'));
  ws.binaryType = 'arraybuffer';
  let started = false;
  const queue = [];
  let chain = Promise.resolve();
  // Chromium may hand out the file's first byte alone as the first chunk, and the server checks the
  // EBML signature on the first message: gather a few bytes first (as app/broadcast/ingest.ts does).
  let head = [];
  let headBytes = 0;
  const sendChunk = (buf) => {
    if (head) {
      head.push(new Uint8Array(buf));
      headBytes += buf.byteLength;
      if (headBytes < 16) return;
      const all = new Uint8Array(headBytes);
      let off = 0;
      for (const b of head) {
        all.set(b, off);
        off += b.byteLength;
      }
      head = null;
      buf = all.buffer;
    }
    if (!started) queue.push(buf);
    else ws.send(buf);
    state.maxBufferedAmount = Math.max(state.maxBufferedAmount, ws.bufferedAmount);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') return;
    const msg = JSON.parse(ev.data);
    if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong', serverTime: msg.serverTime, clientTime: Date.now() }));
    else if (msg.type === 'started') {
      started = true;
      state.phase = 'live';
      for (const b of queue.splice(0)) ws.send(b);
    } else if (msg.type === 'stats') state.serverStats = msg;
    else if (msg.type === 'error') state.error = `${msg.code} ${msg.message}`;
    show();
  };
  ws.onclose = (ev) => {
    state.closed = `${ev.code} ${ev.reason}`;
    state.phase = 'closed';
    show();
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('WebSocket failed'));
  });
  const recorder = new MediaRecorder(stream, {
    mimeType: MIME,
    videoBitsPerSecond: Number(q.get('vbps') || 2_500_000),
    audioBitsPerSecond: 128_000,
    videoKeyFrameIntervalDuration: 1000,
  });
  recorder.ondataavailable = (ev) => {
    const blob = ev.data;
    const now = Date.now();
    if (state.lastChunkAt) {
      state.chunkGaps.push(now - state.lastChunkAt);
      if (state.chunkGaps.length > 200) state.chunkGaps.shift();
    }
    state.lastChunkAt = now;
    if (!blob || blob.size === 0) return;
    state.chunks++;
    state.bytes += blob.size;
    chain = chain
      .then(async () => {
        const buf = await blob.arrayBuffer();
        // How old each frame is as MediaRecorder hands it out: chunk time - (recorder start + block time).
        for (const blk of webm.push(new Uint8Array(buf))) {
          const list = blk.kind === 'video' ? recorderAges.video : recorderAges.audio;
          if (list.length < 100_000) list.push(now - (captureStart + blk.ms));
        }
        sendChunk(buf);
      })
      .catch((e) => (state.error = String(e)));
  };
  recorder.onerror = (e) => (state.error = `recorder: ${e.error?.message ?? e}`);
  const webm = new WebmTiming();
  const captureStart = Date.now();
  recorder.start(timeslice);
  ws.send(JSON.stringify({ type: 'start', v: 1, streamId: q.get('id'), key: q.get('key'), mimeType: MIME, captureStart }));
  state.phase = 'waiting-started';
  show();
}

main().catch((e) => {
  state.error = String(e?.message ?? e);
  state.phase = 'failed';
  show();
});
