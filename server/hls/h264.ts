/**
 * H.264 configuration parsing: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) and the
 * sequence parameter set (ITU-T H.264 7.3.2.1.1) far enough to get the profile, level and display size.
 * Every read is bounds-checked; malformed input throws an Error naming what was wrong.
 */

export class BitstreamError extends Error {
  override name = 'BitstreamError';
}

/** MSB-first bit reader with Exp-Golomb codes. Throws BitstreamError instead of reading past the end. */
export class BitReader {
  private pos = 0; // in bits
  private readonly bits: number;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what = 'bitstream',
  ) {
    this.bits = buf.length * 8;
  }

  get bitsLeft(): number {
    return this.bits - this.pos;
  }

  /** Bits read so far. */
  get position(): number {
    return this.pos;
  }

  /** Read n (0..32) bits as an unsigned number. */
  u(n: number): number {
    if (n === 0) return 0;
    if (n > 32) throw new RangeError(`BitReader.u(${n}): at most 32 bits`);
    if (this.pos + n > this.bits) {
      throw new BitstreamError(`${this.what}: truncated (wanted ${n} bits at bit ${this.pos} of ${this.bits})`);
    }
    let v = 0;
    for (let i = 0; i < n; i++) {
      const p = this.pos++;
      v = v * 2 + ((this.buf[p >> 3] >> (7 - (p & 7))) & 1);
    }
    return v;
  }

  flag(): boolean {
    return this.u(1) === 1;
  }

  skip(n: number): void {
    if (this.pos + n > this.bits) {
      throw new BitstreamError(`${this.what}: truncated (skip ${n} bits at bit ${this.pos})`);
    }
    this.pos += n;
  }

  /** ue(v): unsigned Exp-Golomb. */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new BitstreamError(`${this.what}: Exp-Golomb code longer than 32 bits`);
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** se(v): signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Remove emulation_prevention_three_byte (00 00 03 -> 00 00), turning a NAL unit payload into its RBSP. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let i = 2;
  // Fast path: no 00 00 03 at all.
  for (; i < nal.length; i++) if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) break;
  if (i >= nal.length) return nal;
  const out = new Uint8Array(nal.length);
  let o = 0;
  let zeros = 0;
  for (let j = 0; j < nal.length; j++) {
    const b = nal[j];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

export interface AvcConfig {
  /** AVCProfileIndication (profile_idc). */
  profile: number;
  /** profile_compatibility (the constraint_set flags byte). */
  compat: number;
  /** AVCLevelIndication (level_idc). */
  level: number;
  /** Size in bytes of each NAL unit length prefix in samples: 1, 2 or 4. */
  nalLengthSize: number;
  /** SPS NAL units, each starting with its NAL header byte. */
  sps: Buffer[];
  /** PPS NAL units, each starting with its NAL header byte. */
  pps: Buffer[];
}

/** Parse an AVCDecoderConfigurationRecord. The returned SPS/PPS buffers share memory with the input. */
export function parseAvcC(avcC: Buffer): AvcConfig {
  const fail = (msg: string): never => {
    throw new BitstreamError(`avcC: ${msg}`);
  };
  if (avcC.length < 7) fail(`too short (${avcC.length} bytes)`);
  if (avcC[0] !== 1) fail(`configurationVersion ${avcC[0]}, expected 1`);
  const profile = avcC[1];
  const compat = avcC[2];
  const level = avcC[3];
  const lengthSizeMinusOne = avcC[4] & 0x03;
  if (lengthSizeMinusOne === 2) fail('lengthSizeMinusOne 2 (3-byte NAL lengths) is not allowed');
  const nalLengthSize = lengthSizeMinusOne + 1;
  let off = 5;
  const readNals = (count: number, kind: string, nalType: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (off + 2 > avcC.length) fail(`truncated before ${kind} #${i} length`);
      const len = avcC.readUInt16BE(off);
      off += 2;
      if (len === 0) fail(`${kind} #${i} is empty`);
      if (off + len > avcC.length) fail(`${kind} #${i} of ${len} bytes runs past the end (${avcC.length - off} left)`);
      const nal = avcC.subarray(off, off + len);
      if ((nal[0] & 0x1f) !== nalType) fail(`${kind} #${i} has NAL type ${nal[0] & 0x1f}, expected ${nalType}`);
      out.push(nal);
      off += len;
    }
    return out;
  };
  const sps = readNals(avcC[off++] & 0x1f, 'SPS', 7);
  if (off + 1 > avcC.length) fail('truncated before numOfPictureParameterSets');
  const pps = readNals(avcC[off++], 'PPS', 8);
  if (sps.length === 0) fail('no SPS');
  if (pps.length === 0) fail('no PPS');
  // Trailing bytes (High profile chroma/bit-depth extension) are not needed here.
  return { profile, compat, level, nalLengthSize, sps, pps };
}

export interface SpsInfo {
  /** Display width/height: coded size minus frame cropping. */
  width: number;
  height: number;
  profileIdc: number;
  /** The constraint_set0..5 flags byte (profile_compatibility in avcC). */
  constraintFlags: number;
  levelIdc: number;
  chromaFormatIdc: number;
  frameMbsOnly: boolean;
  /** RFC 6381 codec string, e.g. avc1.42C01E. */
  codecString: string;
}

/** Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (H.264 7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** RFC 6381 'avc1.PPCCLL' from profile_idc, constraint flags byte and level_idc. */
export function avcCodecString(profile: number, compat: number, level: number): string {
  return `avc1.${hex2(profile)}${hex2(compat)}${hex2(level)}`;
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) throw new BitstreamError(`SPS: delta_scale ${delta} out of range`);
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/** Parse a sequence parameter set NAL unit (starting with its NAL header byte, type 7). */
export function parseSps(sps: Buffer): SpsInfo {
  if (sps.length < 4) throw new BitstreamError(`SPS: too short (${sps.length} bytes)`);
  const nalType = sps[0] & 0x1f;
  if (nalType !== 7) throw new BitstreamError(`SPS: NAL type ${nalType}, expected 7`);
  if (sps[0] & 0x80) throw new BitstreamError('SPS: forbidden_zero_bit set');
  const r = new BitReader(unescapeRbsp(sps.subarray(1)), 'SPS');
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  const spsId = r.ue();
  if (spsId > 31) throw new BitstreamError(`SPS: seq_parameter_set_id ${spsId} > 31`);

  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) throw new BitstreamError(`SPS: chroma_format_idc ${chromaFormatIdc} > 3`);
    if (chromaFormatIdc === 3) separateColourPlane = r.flag();
    const bitDepthLuma = r.ue() + 8;
    const bitDepthChroma = r.ue() + 8;
    if (bitDepthLuma > 14 || bitDepthChroma > 14) {
      throw new BitstreamError(`SPS: bit depth ${bitDepthLuma}/${bitDepthChroma} > 14`);
    }
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }

  const log2MaxFrameNumMinus4 = r.ue();
  if (log2MaxFrameNumMinus4 > 12) {
    throw new BitstreamError(`SPS: log2_max_frame_num_minus4 ${log2MaxFrameNumMinus4} > 12`);
  }
  const pocType = r.ue();
  if (pocType === 0) {
    const v = r.ue();
    if (v > 12) throw new BitstreamError(`SPS: log2_max_pic_order_cnt_lsb_minus4 ${v} > 12`);
  } else if (pocType === 1) {
    r.skip(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) throw new BitstreamError(`SPS: num_ref_frames_in_pic_order_cnt_cycle ${cycle} > 255`);
    for (let i = 0; i < cycle; i++) r.se();
  } else if (pocType !== 2) {
    throw new BitstreamError(`SPS: pic_order_cnt_type ${pocType} > 2`);
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.flag();
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag

  const codedWidth = widthMbs * 16;
  const codedHeight = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
  let width = codedWidth;
  let height = codedHeight;
  if (r.flag()) {
    // frame_cropping_flag; offsets are in crop units (H.264 7.4.2.1.1, Table 6-1)
    const left = r.ue();
    const right = r.ue();
    const top = r.ue();
    const bottom = r.ue();
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    let cropUnitX = 1;
    let cropUnitY = frameMbsOnly ? 1 : 2;
    if (chromaArrayType !== 0) {
      const subWidthC = chromaArrayType === 3 ? 1 : 2;
      const subHeightC = chromaArrayType === 1 ? 2 : 1;
      cropUnitX = subWidthC;
      cropUnitY = subHeightC * (frameMbsOnly ? 1 : 2);
    }
    width -= cropUnitX * (left + right);
    height -= cropUnitY * (top + bottom);
  }
  if (width <= 0 || height <= 0 || codedWidth > 16384 || codedHeight > 16384) {
    throw new BitstreamError(`SPS: implausible picture size ${width}x${height} (coded ${codedWidth}x${codedHeight})`);
  }
  return {
    width,
    height,
    profileIdc,
    constraintFlags,
    levelIdc,
    chromaFormatIdc,
    frameMbsOnly,
    codecString: avcCodecString(profileIdc, constraintFlags, levelIdc),
  };
}
