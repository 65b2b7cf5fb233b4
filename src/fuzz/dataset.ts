/**
 * Data sets carried in C-STORE / C-FIND P-DATA (PS3.7 §9.3.1, §9.1.2): well-formed ones written by
 * dcmjs in Explicit VR Little Endian (PS3.5 §7.1.2), and byte-level attacks on their element
 * structure: invalid VRs, lying or undefined lengths, and deep sequence nesting (PS3.5 §7.5).
 */
import { createRequire } from 'node:module';
import type { Rng } from './prng.ts';

// dcmjs ships no type declarations and its ESM build cannot be loaded under every test loader; its
// CommonJS build is loaded instead, and the two classes used are typed here.
const dcmjs = createRequire(import.meta.url)('dcmjs');
const { DicomDict, DicomMetaDictionary } = (dcmjs as { data: { DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer }; DicomMetaDictionary: { denaturalizeDataset(ds: unknown): unknown } } }).data;

export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const UID_ROOT = '1.2.826.0.1.3680043.10.1234.77';

const SOP_CLASSES = ['1.2.840.10008.5.1.4.1.1.7', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.4'];
const NAMES = ['Doe^John', 'Müller^Jürgen', 'O\'Brien^Ann^^Dr.', 'Yamada^Tarou=山田^太郎', '^', 'A'.repeat(64), 'X\\Y'];

export interface StoreInstance {
  sopClassUid: string;
  sopInstanceUid: string;
  /** Data set bytes in Explicit VR Little Endian, without the Part 10 header. */
  dataSet: Buffer;
}

/** Strip the 128-byte preamble, "DICM" and the group 0002 meta information (PS3.10 §7.1). */
function stripPart10(file: Buffer): Buffer {
  // (0002,0000) UL FileMetaInformationGroupLength: tag 4 + VR 2 + length 2 + value 4.
  const groupLength = file.readUInt32LE(132 + 8);
  return Buffer.from(file.subarray(132 + 12 + groupLength));
}

function buildInstance(rng: Rng, n: number): StoreInstance {
  const sopClassUid = rng.pick(SOP_CLASSES);
  const sopInstanceUid = `${UID_ROOT}.${n + 1}.${rng.int(1_000_000)}`;
  const ds: Record<string, unknown> = {
    SOPClassUID: sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    PatientName: rng.pick(NAMES),
    PatientID: String(rng.int(1_000_000)),
    StudyInstanceUID: `${UID_ROOT}.9.${n + 1}`,
    SeriesInstanceUID: `${UID_ROOT}.8.${n + 1}`,
    Modality: rng.pick(['OT', 'CT', 'MR']),
    StudyDate: '20260101',
    Rows: 2,
    Columns: 2,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    PixelData: new Uint8Array(rng.bytes(4)).buffer,
    // dcmjs needs the VR of bulk data it cannot infer (PS3.5 §8.1.1: OB for 8-bit pixels).
    _vrMap: { PixelData: 'OB' },
  };
  let nest: Record<string, unknown> = ds;
  for (let depth = rng.int(4); depth > 0; depth--) {
    const child: Record<string, unknown> = { ReferencedSOPInstanceUID: `${UID_ROOT}.7.${depth}`, ReferencedSOPClassUID: sopClassUid };
    nest.ReferencedImageSequence = [child];
    nest = child;
  }
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LE,
    ImplementationClassUID: UID_ROOT,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return { sopClassUid, sopInstanceUid, dataSet: stripPart10(Buffer.from(dict.write())) };
}

/**
 * A pool of instances made once per campaign seed: dcmjs takes about a millisecond per data set,
 * too slow to call per exec at thousands of execs per second; mutations then vary the bytes.
 */
export class DatasetPool {
  readonly instances: StoreInstance[];
  readonly findIdentifiers: Buffer[];

  constructor(rng: Rng, size = 16) {
    this.instances = Array.from({ length: size }, (_, i) => buildInstance(rng, i));
    this.findIdentifiers = Array.from({ length: 4 }, (_, i) => {
      const meta = { TransferSyntaxUID: EXPLICIT_VR_LE, MediaStorageSOPClassUID: SOP_CLASSES[0], MediaStorageSOPInstanceUID: `${UID_ROOT}.6.${i}`, ImplementationClassUID: UID_ROOT, FileMetaInformationVersion: new Uint8Array([0, 1]).buffer };
      const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
      dict.dict = DicomMetaDictionary.denaturalizeDataset({ QueryRetrieveLevel: 'STUDY', PatientName: rng.pick(['*', 'Doe*', '']), StudyInstanceUID: '', PatientID: '' });
      return stripPart10(Buffer.from(dict.write()));
    });
  }
}

const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

interface ElementAt {
  offset: number;
  vr: string;
  /** Offset of the length field and its size (2 or 4 bytes). */
  lengthAt: number;
  lengthSize: 2 | 4;
}

/** Top-level element headers of an Explicit VR LE data set (PS3.5 §7.1.2), stopping at the first oddity. */
function elements(ds: Buffer): ElementAt[] {
  const out: ElementAt[] = [];
  let pos = 0;
  while (pos + 8 <= ds.length && out.length < 256) {
    const vr = ds.toString('latin1', pos + 4, pos + 6);
    const long = LONG_LENGTH_VRS.has(vr);
    const lengthAt = long ? pos + 8 : pos + 6;
    if (lengthAt + (long ? 4 : 2) > ds.length) break;
    const length = long ? ds.readUInt32LE(lengthAt) : ds.readUInt16LE(lengthAt);
    out.push({ offset: pos, vr, lengthAt, lengthSize: long ? 4 : 2 });
    if (length === 0xffffffff) break;
    pos = lengthAt + (long ? 4 : 2) + length;
  }
  return out;
}

/** Sequence nested `depth` levels deep with undefined lengths (PS3.5 §7.5.1-§7.5.2). */
export function nestedSequence(depth: number, closed: boolean): Buffer {
  const open = Buffer.from([0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
  const close = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  const parts: Buffer[] = [];
  for (let i = 0; i < depth; i++) parts.push(open);
  if (closed) for (let i = 0; i < depth; i++) parts.push(close);
  return Buffer.concat(parts);
}

export const DATASET_MUTATIONS = ['invalid-vr', 'lying-length', 'undefined-length', 'deep-nesting', 'truncate', 'huge-length'] as const;

/** Apply one structure-aware mutation to a data set; returns the new bytes and the mutation's name. */
export function mutateDataSet(rng: Rng, ds: Buffer): { bytes: Buffer; name: string } {
  const name = rng.pick(DATASET_MUTATIONS);
  const els = elements(ds);
  const out = Buffer.from(ds);
  const el = els.length > 0 ? rng.pick(els) : undefined;
  switch (name) {
    case 'invalid-vr':
      if (el) out.write(rng.pick(['ZZ', '\0\0', 'un', 'S ', 'OB', 'SQ', 'UT']), el.offset + 4, 'latin1');
      return { bytes: out, name };
    case 'lying-length':
    case 'huge-length':
    case 'undefined-length': {
      if (!el) return { bytes: out, name };
      const value = name === 'undefined-length' ? 0xffffffff : name === 'huge-length' ? 0x7ffffff0 + rng.int(16) : rng.interestingLength(64);
      if (el.lengthSize === 4) out.writeUInt32LE(value >>> 0, el.lengthAt);
      else out.writeUInt16LE(value & 0xffff, el.lengthAt);
      return { bytes: out, name };
    }
    case 'deep-nesting':
      return { bytes: Buffer.concat([out, nestedSequence(rng.pick([64, 500, 2000, 10000]), rng.chance(0.5))]), name };
    default:
      return { bytes: out.subarray(0, rng.int(out.length + 1)), name };
  }
}
