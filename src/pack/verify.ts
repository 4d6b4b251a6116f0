import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { PackdebugError } from '../errors.js';
import { digestCollector, EMPTY_SHA256, type MemberDigest } from '../tar/digest.js';
import { TarParser } from '../tar/parse.js';
import { decodeBlock } from '../xz/block-decoder.js';
import type { EncoderBackend } from '../xz/block-encoder.js';
import { readXzLayout, type XzFileLayout } from '../xz/file-layout.js';
import type { IndexRecord } from '../xz/index.js';
import { decodeSequential } from '../xz/sequential.js';
import { headerFields, type TarPlan } from './tar-plan.js';

function mismatch(name: string, what: string): PackdebugError {
  return new PackdebugError('E_VERIFY', `${name}: verification failed: ${what}`, { file: name });
}

/**
 * Decodes the Blocks of a file in order, up to `threads` at once, handing
 * each Block's data to `onBlock`.
 */
export async function forEachBlock(
  fh: FileHandle,
  name: string,
  layout: XzFileLayout,
  threads: number,
  onBlock: (data: Buffer, index: number) => void,
  backend: EncoderBackend = 'lzma-native',
): Promise<void> {
  const pending: Promise<Buffer>[] = [];
  let next = 0;
  const start = () => {
    const b = layout.blocks[next++]!;
    const p = (async () => {
      const bytes = Buffer.alloc(b.totalSize);
      const { bytesRead } = await fh.read(bytes, 0, b.totalSize, b.fileOffset);
      if (bytesRead !== b.totalSize) throw new PackdebugError('E_FORMAT', `${name}: truncated Block at offset ${b.fileOffset}`, { file: name });
      return decodeBlock(bytes, b, name, backend);
    })();
    p.catch(() => undefined);
    pending.push(p);
  };
  try {
    for (let i = 0; i < layout.blocks.length; i++) {
      while (next < layout.blocks.length && pending.length < Math.max(1, threads)) start();
      onBlock(await pending.shift()!, i);
    }
  } finally {
    await Promise.allSettled(pending);
  }
}

/**
 * Reads a freshly written tarball back, independently of the writer's state:
 * container structure from the file, every Block decoded with its Check,
 * and every member compared with the plan (name, type, mode, mtime, owner,
 * size, link target, offset) and with the SHA-256 of what was read from the
 * image.
 */
export async function verifyWrittenTarball(
  fh: FileHandle,
  name: string,
  plan: TarPlan,
  hashes: ReadonlyMap<number, string>,
  records: readonly IndexRecord[],
  threads: number,
  backend: EncoderBackend = 'lzma-native',
): Promise<XzFileLayout> {
  const layout = await readXzLayout(fh, name);
  if (layout.streams.length !== 1 || !layout.footerLast) throw mismatch(name, 'unexpected Stream structure');
  if (layout.blocks.length !== records.length) throw mismatch(name, `Index lists ${layout.blocks.length} Blocks, ${records.length} were written`);
  layout.blocks.forEach((b, i) => {
    const r = records[i]!;
    if (b.unpaddedSize !== r.unpaddedSize || b.uncompressedSize !== r.uncompressedSize) throw mismatch(name, `Index record ${i} differs from the Block written`);
  });
  if (layout.uncompressedSize !== plan.size) throw mismatch(name, `tar stream is ${layout.uncompressedSize} bytes, expected ${plan.size}`);

  let i = 0;
  let hash: Hash | undefined;
  const parser = new TarParser(
    {
      entry(e) {
        const m = plan.members[i];
        if (!m) throw mismatch(name, `unexpected member ${e.path}`);
        const want = headerFields(m.entry);
        const problems: string[] = [];
        if (e.path !== want.name) problems.push(`name ${JSON.stringify(e.path)}`);
        if (e.type !== want.type) problems.push(`type ${e.type} != ${want.type}`);
        if (e.size !== want.size) problems.push(`size ${e.size} != ${want.size}`);
        if (e.linkpath !== want.linkname) problems.push(`link target ${JSON.stringify(e.linkpath)}`);
        if (e.mode !== want.mode) problems.push(`mode ${e.mode.toString(8)}`);
        if (e.mtime !== want.mtime) problems.push(`mtime ${e.mtime}`);
        if (e.uid !== 0 || e.gid !== 0) problems.push('owner');
        if (e.headerOffset !== m.offset) problems.push(`offset ${e.headerOffset} != ${m.offset}`);
        if (problems.length > 0) throw mismatch(name, `${m.entry.member}: ${problems.join(', ')}`);
        hash = m.entry.kind === 'file' ? createHash('sha256') : undefined;
      },
      data(_e, chunk) {
        hash?.update(chunk);
      },
      entryEnd() {
        const m = plan.members[i]!;
        if (hash && hash.digest('hex') !== (hashes.get(i) ?? EMPTY_SHA256)) throw mismatch(name, `${m.entry.member}: content differs from the image`);
        hash = undefined;
        i++;
      },
    },
    name,
  );
  await forEachBlock(fh, name, layout, threads, (data) => parser.write(data), backend);
  parser.end();
  if (!parser.ended || i !== plan.members.length) throw mismatch(name, `read ${i} members, expected ${plan.members.length}`);
  if (parser.offset !== plan.trailerOffset + 1024) throw mismatch(name, 'end-of-archive marker at the wrong offset');
  return layout;
}

/** Digests of every member of any .tar.xz (read sequentially, as it may be single-Block). */
export async function digestTarball(file: string): Promise<MemberDigest[]> {
  const { visitor, digests } = digestCollector();
  const parser = new TarParser(visitor, file);
  await decodeSequential(file, (chunk) => {
    parser.write(chunk);
    return !parser.ended;
  });
  parser.end();
  return digests;
}
