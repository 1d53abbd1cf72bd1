/**
 * AudioSpecificConfig parsing (ISO/IEC 14496-3 1.6.2.1), enough for the sample entry and the RFC 6381 codec string.
 */
import { BitReader, BitstreamError } from './h264';

/** samplingFrequencyIndex 0..12 (Table 1.18); 13 and 14 are reserved, 15 means an explicit 24-bit value follows. */
export const AAC_SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/** channelConfiguration -> channel count (Table 1.19, including the values added in later amendments). */
const CHANNELS: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8 };

export interface AscInfo {
  /** audioObjectType, after the 31 escape (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2). */
  objectType: number;
  /** Core sampling frequency in Hz (for explicit SBR/PS signalling, the AAC core rate, not the output rate). */
  sampleRate: number;
  /** Output sampling frequency when SBR/PS is signalled explicitly (objectType 5 or 29), else sampleRate. */
  outputSampleRate: number;
  channels: number;
  /** RFC 6381 codec string, e.g. mp4a.40.2. */
  codecString: string;
}

function readObjectType(r: BitReader): number {
  const t = r.u(5);
  return t === 31 ? 32 + r.u(6) : t;
}

function readSampleRate(r: BitReader): number {
  const index = r.u(4);
  if (index === 15) {
    const rate = r.u(24);
    if (rate === 0) throw new BitstreamError('ASC: explicit samplingFrequency is 0');
    return rate;
  }
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw new BitstreamError(`ASC: reserved samplingFrequencyIndex ${index}`);
  return rate;
}

export function parseAsc(asc: Buffer): AscInfo {
  if (asc.length < 2) throw new BitstreamError(`ASC: too short (${asc.length} bytes)`);
  const r = new BitReader(asc, 'ASC');
  const objectType = readObjectType(r);
  if (objectType === 0) throw new BitstreamError('ASC: audioObjectType 0 (null object)');
  const sampleRate = readSampleRate(r);
  const channelConfig = r.u(4);
  let outputSampleRate = sampleRate;
  if (objectType === 5 || objectType === 29) {
    // Explicit hierarchical SBR/PS signalling: extensionSamplingFrequency, then the core object type.
    outputSampleRate = readSampleRate(r);
    readObjectType(r);
  }
  if (channelConfig === 0) {
    throw new BitstreamError('ASC: channelConfiguration 0 (program_config_element) is not supported');
  }
  const channels = CHANNELS[channelConfig];
  if (channels === undefined) throw new BitstreamError(`ASC: reserved channelConfiguration ${channelConfig}`);
  return { objectType, sampleRate, outputSampleRate, channels, codecString: `mp4a.40.${objectType}` };
}

/**
 * One AAC-LC raw_data_block of silence (ISO/IEC 14496-3 4.4.2.1) for 1 or 2 channels, else null: a single channel
 * element (SCE) or a channel pair (CPE, no common window) whose individual_channel_stream has max_sfb = 0 (no scale
 * factor bands, so every spectral coefficient is zero), then the END element, byte-aligned. Used to fill a gap in the
 * audio timeline with frames a decoder (and MSE) counts as real.
 */
export function silentAacFrame(channels: number): Buffer | null {
  if (channels !== 1 && channels !== 2) return null;
  const bits: number[] = [];
  const put = (value: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >> i) & 1);
  };
  const ics = () => {
    put(0, 8); // global_gain (no band uses it)
    // ics_info: reserved bit, window_sequence ONLY_LONG, window_shape, max_sfb = 0, predictor_data_present = 0
    put(0, 1);
    put(0, 2);
    put(0, 1);
    put(0, 6);
    put(0, 1);
    // section_data and scale_factor_data are empty with max_sfb = 0; pulse, TNS, gain control absent
    put(0, 3);
  };
  if (channels === 1) {
    put(0, 3); // ID_SCE
    put(0, 4); // element_instance_tag
    ics();
  } else {
    put(1, 3); // ID_CPE
    put(0, 4);
    put(0, 1); // common_window = 0
    ics();
    ics();
  }
  put(7, 3); // ID_END
  while (bits.length % 8) bits.push(0);
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < bits.length; i++) out[i >> 3] |= bits[i] << (7 - (i & 7));
  return out;
}
