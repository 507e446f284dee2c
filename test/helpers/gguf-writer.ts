import { writeFileSync } from 'node:fs';
import { readGgufFileInfo } from 'node-llama-cpp';

/** A GGUF v3 writer for test files: string / uint32 / float32 metadata and F32 tensors (`dims` in GGUF order, ne[0] first). */
export function writeGguf(file: string, metadata: Record<string, string | { u32: number } | { f32: number }>, tensors: { name: string; dims: number[]; data: Float32Array }[] = []): void {
  const u32 = (value: number): Buffer => Buffer.from(new Uint32Array([value]).buffer);
  const u64 = (value: number): Buffer => Buffer.from(new BigUint64Array([BigInt(value)]).buffer);
  const text = (value: string): Buffer => Buffer.concat([u64(Buffer.byteLength(value)), Buffer.from(value, 'utf8')]);
  const parts = [Buffer.from('GGUF', 'latin1'), u32(3), u64(tensors.length), u64(Object.keys(metadata).length)];
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value === 'string') parts.push(text(key), u32(8), text(value));
    else if ('u32' in value) parts.push(text(key), u32(4), u32(value.u32));
    else parts.push(text(key), u32(6), Buffer.from(new Float32Array([value.f32]).buffer));
  }
  const align = (length: number): number => (32 - (length % 32)) % 32;
  let offset = 0;
  for (const tensor of tensors) {
    if (tensor.data.length !== tensor.dims.reduce((product, dim) => product * dim, 1)) throw new Error(`${tensor.name}: data length does not match dims`);
    parts.push(text(tensor.name), u32(tensor.dims.length), ...tensor.dims.map(u64), u32(0), u64(offset));
    offset += tensor.data.byteLength + align(tensor.data.byteLength);
  }
  const header = Buffer.concat(parts);
  const body: Buffer[] = [header, Buffer.alloc(align(header.length))];
  for (const tensor of tensors) {
    const bytes = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    body.push(bytes, Buffer.alloc(align(bytes.length)));
  }
  writeFileSync(file, Buffer.concat(body));
}

/** A deterministic pseudo-random number in [-1, 1) stream (mulberry32). */
function randomStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (((value ^ (value >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/**
 * A random LoRA adapter in llama.cpp's GGUF adapter format for the given base, on `targets` (tensor stems such as
 * `attn_q`) of every block. `inScale` > 1 deliberately gives `lora_a` the wrong input width (an adapter "for another base").
 */
export async function writeRandomLoraAdapter(
  file: string,
  basePath: string,
  options: { seed: number; rank?: number; magnitude?: number; targets?: string[]; inScale?: number; architecture?: string },
): Promise<void> {
  const info = await readGgufFileInfo(basePath, { sourceType: 'filesystem', logWarnings: false });
  const rank = options.rank ?? 4;
  const targets = options.targets ?? ['attn_q', 'attn_v'];
  const random = randomStream(options.seed);
  const magnitude = options.magnitude ?? 0.05;
  const tensors: { name: string; dims: number[]; data: Float32Array }[] = [];
  for (const tensor of info.fullTensorInfo ?? info.tensorInfo ?? []) {
    const match = /^blk\.\d+\.([a-z_]+)\.weight$/.exec(tensor.name);
    if (match === null || !targets.includes(match[1]!)) continue;
    const [inputs, outputs] = tensor.dimensions.map(Number) as [number, number];
    const width = inputs * (options.inScale ?? 1);
    const fill = (length: number): Float32Array => Float32Array.from({ length }, () => random() * magnitude);
    tensors.push({ name: `${tensor.name}.lora_a`, dims: [width, rank], data: fill(width * rank) });
    tensors.push({ name: `${tensor.name}.lora_b`, dims: [rank, outputs], data: fill(rank * outputs) });
  }
  writeGguf(
    file,
    { 'general.architecture': options.architecture ?? info.metadata.general.architecture, 'general.type': 'adapter', 'adapter.type': 'lora', 'adapter.lora.alpha': { f32: rank } },
    tensors,
  );
}
