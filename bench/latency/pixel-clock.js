/**
 * The pixel clock: a 1280x720 frame whose 8x6 grid of 160x100 blocks spells the wall-clock time
 * (Date.now() mod 2^32, 32 bits) and its CRC-16 (16 bits) in black and white. The bottom 120 px
 * show the same time as text, for people. Shared by the broadcaster page (draw), the viewer page
 * (read back from <video> frames) and the Node RTMP reader (read back from ffmpeg's gray frames).
 *
 * Plain ESM JavaScript so the browser loads it as is; types in pixel-clock.d.ts.
 */

export const WIDTH = 1280;
export const HEIGHT = 720;
export const COLS = 8;
export const ROWS = 6;
export const BLOCK_W = WIDTH / COLS; // 160
export const BLOCK_H = 100; // the grid covers 1280x600
export const DATA_BITS = 32;
export const CHECK_BITS = 16;
export const BITS = DATA_BITS + CHECK_BITS; // 48 = COLS * ROWS

/** Below LOW a block reads 0, above HIGH it reads 1; in between the frame is rejected. */
export const LOW = 80;
export const HIGH = 175;

/** CRC-16/CCITT-FALSE of the value's 4 bytes, big-endian. */
export function crc16(value) {
  let crc = 0xffff;
  for (let i = 3; i >= 0; i--) {
    crc ^= ((value >>> (i * 8)) & 0xff) << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** Bit i of the pattern (block i = row * COLS + col): value bits first (LSB first), then the CRC. */
export function encodeBits(value) {
  const v = value >>> 0;
  const crc = crc16(v);
  const bits = new Array(BITS);
  for (let i = 0; i < DATA_BITS; i++) bits[i] = (v >>> i) & 1;
  for (let i = 0; i < CHECK_BITS; i++) bits[DATA_BITS + i] = (crc >>> i) & 1;
  return bits;
}

/** Centre of block i in frame pixels. */
export function blockCentre(i) {
  const col = i % COLS;
  const row = Math.floor(i / COLS);
  return { x: col * BLOCK_W + BLOCK_W / 2, y: row * BLOCK_H + BLOCK_H / 2 };
}

/** Draw the clock for `nowMs` on a 2D context of a WIDTH x HEIGHT canvas. */
export function drawClock(ctx, nowMs, frame = 0) {
  const bits = encodeBits(nowMs % 2 ** 32);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  ctx.fillStyle = '#fff';
  for (let i = 0; i < BITS; i++) {
    if (!bits[i]) continue;
    const col = i % COLS;
    const row = Math.floor(i / COLS);
    ctx.fillRect(col * BLOCK_W, row * BLOCK_H, BLOCK_W, BLOCK_H);
  }
  const y0 = ROWS * BLOCK_H;
  ctx.fillStyle = '#333';
  ctx.fillRect(0, y0, WIDTH, HEIGHT - y0);
  // A bar that sweeps once a second: motion for people watching.
  ctx.fillStyle = '#e33';
  ctx.fillRect(((nowMs % 1000) / 1000) * (WIDTH - 40), y0, 40, 12);
  ctx.fillStyle = '#fff';
  ctx.font = '48px monospace';
  ctx.textBaseline = 'middle';
  ctx.fillText(`${new Date(nowMs).toISOString().slice(11, 23)}  #${frame}`, 24, y0 + 66);
}

/**
 * Decode 48 block levels (0..255, block order) into the value. Rejects a frame when a block is
 * neither clearly dark nor clearly light (blurred, mid-transition, not our pattern) or the CRC
 * does not match.
 */
export function decodeLevels(levels) {
  let value = 0;
  let crc = 0;
  for (let i = 0; i < BITS; i++) {
    const l = levels[i];
    let bit;
    if (l < LOW) bit = 0;
    else if (l > HIGH) bit = 1;
    else return { ok: false, reason: 'ambiguous' };
    if (i < DATA_BITS) value = (value | (bit << i)) >>> 0;
    else crc |= bit << (i - DATA_BITS);
  }
  if (crc16(value) !== crc) return { ok: false, reason: 'checksum' };
  return { ok: true, value };
}

/** now - (the time the frame shows), in ms, from a decoded value (mod 2^32, signed). */
export function latencyFrom(value, nowMs) {
  let d = ((nowMs % 2 ** 32) - value) % 2 ** 32;
  if (d < 0) d += 2 ** 32;
  if (d >= 2 ** 31) d -= 2 ** 32;
  return d;
}

/**
 * Block levels from a luma sampler: `luma(x, y)` in frame pixels (0..WIDTH, 0..HEIGHT) of any
 * image scaled by `scale` (image px per frame px). Averages a patch of the block's central half.
 */
export function sampleLevels(luma, scale = 1) {
  const levels = new Array(BITS);
  const hx = (BLOCK_W / 4) * scale;
  const hy = (BLOCK_H / 4) * scale;
  const steps = 4;
  for (let i = 0; i < BITS; i++) {
    const c = blockCentre(i);
    const cx = c.x * scale;
    const cy = c.y * scale;
    let sum = 0;
    let n = 0;
    for (let sy = -steps; sy <= steps; sy++) {
      for (let sx = -steps; sx <= steps; sx++) {
        sum += luma(Math.round(cx + (sx / steps) * hx), Math.round(cy + (sy / steps) * hy));
        n++;
      }
    }
    levels[i] = sum / n;
  }
  return levels;
}
