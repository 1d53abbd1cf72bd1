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
