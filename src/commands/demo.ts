import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { describePack } from '../pack/describe.js';
import { packImage } from '../pack/pack.js';
import { TarParser } from '../tar/parse.js';
import { readXzLayout } from '../xz/file-layout.js';
import { decodeSequential } from '../xz/sequential.js';
import type { CommandIO } from '../util/io.js';
import type { DemoArgs } from './demo.args.js';

export const DEMO_FIXTURE = fileURLToPath(new URL('../../fixtures/hello-image.tar', import.meta.url));

/**
 * The main job on the shipped fixture: unpack a Portage image made the way
 * estrip leaves it, pack its debug info as the hook would, and show what the
 * tarball holds and how it is cut into Blocks.
 */
export async function runDemo(args: DemoArgs, io: CommandIO): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'packdebug-demo-'));
  try {
    const image = path.join(dir, 'image');
    await fs.mkdir(image);
    await tar.x({ file: args.fixture ?? DEMO_FIXTURE, cwd: image, preserveOwner: false });
    io.stdout.write(`image: ${image} (unpacked from ${path.relative(process.cwd(), args.fixture ?? DEMO_FIXTURE)})\n`);
    const result = await packImage({
      image,
      category: 'app-misc',
      pn: 'hello',
      pf: 'hello-1.0',
      buildNumber: '1',
      // A small Block size so that even this small image shows the seekable layout.
      blockSize: 16 << 10,
      sourceDateEpoch: 1700000000,
    });
    io.stdout.write(`${describePack(result)}\n\nmembers (offset in the tar stream, type, size, name):\n`);
    const lines: string[] = [];
    const parser = new TarParser({
      entry: (e) =>
        lines.push(
          `  ${String(e.headerOffset).padStart(7)}  ${e.type}  ${String(e.size).padStart(7)}  ` +
            `${e.path}${e.linkpath ? ` -> ${e.linkpath}` : ''}`,
        ),
    });
    await decodeSequential(result.tarball!, (chunk) => parser.write(chunk));
    io.stdout.write(`${lines.join('\n')}\n\nxz Blocks (uncompressed offset, size):\n`);
    const fh = await fs.open(result.tarball!);
    try {
      const layout = await readXzLayout(fh, result.tarball!);
      for (const b of layout.blocks)
        io.stdout.write(`  ${String(b.uncompressedOffset).padStart(7)}  ${String(b.uncompressedSize).padStart(7)}\n`);
    } finally {
      await fh.close();
    }
    io.stdout.write(`\nCheck it with GNU tools: tar -tvJf ${result.tarball}; xz -lvv ${result.tarball}\n`);
    return 0;
  } finally {
    if (args.keep) io.stdout.write(`kept ${dir}\n`);
    else await fs.rm(dir, { recursive: true, force: true });
  }
}
