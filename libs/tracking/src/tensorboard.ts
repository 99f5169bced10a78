// TensorBoard event files without TensorFlow: no writer is kept on npm, and the format is small and
// documented. A file is a sequence of TFRecords
//   uint64 length (LE) | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)
// whose data are `tensorflow.Event` protobufs: first {wall_time, file_version: "brain.Event:2"}, then
// one Event per step with a Summary of scalar values {tag, simple_value}.
import { crc32c } from "@aws-crypto/crc32c";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { HistoryRecord } from "./history.ts";

const MASK_DELTA = 0xa282ead8;
/** TFRecord's masked CRC: rotate right by 15 bits and add a constant (mod 2^32). */
export const maskedCrc32c = (data: Uint8Array): number => {
  const crc = crc32c(data);
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
};

export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** The records of a TFRecord file; a bad length or checksum throws with the record's offset. */
export function readRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 0; at < file.length; ) {
    if (at + 12 > file.length) throw new Error(`tfrecord at byte ${at}: truncated header`);
    if (view.getUint32(at + 8, true) !== maskedCrc32c(file.subarray(at, at + 8)))
      throw new Error(`tfrecord at byte ${at}: length crc mismatch`);
    const length = Number(view.getBigUint64(at, true));
    const end = at + 12 + length;
    if (end + 4 > file.length) throw new Error(`tfrecord at byte ${at}: truncated data`);
    const data = file.subarray(at + 12, end);
    if (view.getUint32(end, true) !== maskedCrc32c(data)) throw new Error(`tfrecord at byte ${at}: data crc mismatch`);
    out.push(data);
    at = end + 4;
  }
  return out;
}

export interface TbEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

// Field numbers of tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto.
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5 };
const SUMMARY = { value: 1 };
const VALUE = { tag: 1, simpleValue: 2 };

export function encodeEvent(e: TbEvent): Uint8Array {
  const w = new BinaryWriter();
  w.tag(EVENT.wallTime, WireType.Bit64).double(e.wallTime);
  if (e.step !== 0) w.tag(EVENT.step, WireType.Varint).int64(e.step);
  if (e.fileVersion !== undefined) w.tag(EVENT.fileVersion, WireType.LengthDelimited).string(e.fileVersion);
  const tags = Object.keys(e.scalars);
  if (tags.length > 0) {
    w.tag(EVENT.summary, WireType.LengthDelimited).fork();
    for (const tag of tags) {
      w.tag(SUMMARY.value, WireType.LengthDelimited).fork();
      w.tag(VALUE.tag, WireType.LengthDelimited).string(tag);
      w.tag(VALUE.simpleValue, WireType.Bit32).float(e.scalars[tag]!);
      w.join();
    }
    w.join();
  }
  return w.finish();
}

export function decodeEvent(data: Uint8Array): TbEvent {
  const r = new BinaryReader(data);
  const e: TbEvent = { wallTime: 0, step: 0, scalars: {} };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === EVENT.wallTime) e.wallTime = r.double();
    else if (field === EVENT.step) e.step = Number(r.int64());
    else if (field === EVENT.fileVersion) e.fileVersion = r.string();
    else if (field === EVENT.summary) {
      const s = new BinaryReader(r.bytes());
      while (s.pos < s.len) {
        const [f, t] = s.tag();
        if (f !== SUMMARY.value) {
          s.skip(t);
          continue;
        }
        const v = new BinaryReader(s.bytes());
        let tag = "";
        let value = Number.NaN;
        while (v.pos < v.len) {
          const [vf, vt] = v.tag();
          if (vf === VALUE.tag) tag = v.string();
          else if (vf === VALUE.simpleValue) value = v.float();
          else v.skip(vt);
        }
        e.scalars[tag] = value;
      }
    } else r.skip(type);
  }
  return e;
}

const NOT_SCALARS = new Set(["step", "wall_time"]);

/** A whole event file for a history: the version record, then one event per record (all its numbers). */
export function eventFile(records: readonly HistoryRecord[], startWallTimeSec: number): Uint8Array {
  const events = [
    encodeEvent({ wallTime: startWallTimeSec, step: 0, fileVersion: "brain.Event:2", scalars: {} }),
    ...records.map((r) =>
      encodeEvent({
        wallTime: r.wall_time ?? startWallTimeSec,
        step: r.step,
        scalars: Object.fromEntries(Object.entries(r).filter(([k, v]) => !NOT_SCALARS.has(k) && Number.isFinite(v))),
      }),
    ),
  ].map(frameRecord);
  const out = new Uint8Array(events.reduce((n, e) => n + e.length, 0));
  let at = 0;
  for (const e of events) {
    out.set(e, at);
    at += e.length;
  }
  return out;
}

/** TensorBoard finds files by "tfevents" in the name; this is the name its own writers use. */
export const eventFileName = (startWallTimeSec: number, host: string) => `events.out.tfevents.${Math.floor(startWallTimeSec)}.${host}`;
