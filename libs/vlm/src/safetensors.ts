import * as tf from "@tensorflow/tfjs";

/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
 * Only F32 is written or read: every weight and optimizer moment here is float32.
 */
export async function encodeSafetensors(tensors: Map<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const datas: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (t.dtype !== "float32") throw new Error(`safetensors: tensor "${name}" is ${t.dtype}, only float32 is supported`);
    const data = (await t.data()) as Float32Array; // async: GPU backends have no synchronous read in Node
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    datas.push(data);
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const d of datas) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** Tensors from safetensors bytes; `file` names the source in every error. */
export function decodeSafetensors(bytes: Uint8Array, file: string): { tensors: Map<string, tf.Tensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new Error(`${file}: not a valid safetensors file (${why})`);
  };
  if (bytes.length < 8) fail("shorter than its 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.length) fail(`header of ${headerLen} bytes runs past the end of the file (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    return fail(`header is not JSON: ${(err as Error).message}`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, tf.Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== "F32") fail(`tensor "${name}" has dtype ${e.dtype}, only F32 is supported`);
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4) fail(`tensor "${name}": ${end - begin} bytes for shape [${e.shape}]`);
    if (dataStart + end > bytes.length) fail(`tensor "${name}" runs past the end of the file (truncated?)`);
    const copy = new Float32Array(count);
    new Uint8Array(copy.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, tf.tensor(copy, e.shape, "float32"));
  }
  return { tensors, metadata };
}
