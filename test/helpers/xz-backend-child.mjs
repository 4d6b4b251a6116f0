// Run by test/xz-backends.test.ts as `node xz-backend-child.mjs OUT.xz INPUT...`, with and without
// PACKDEBUG_LZMA_NATIVE=0, on the built modules (dist/, built by `pretest`): writes the INPUT files as
// the Blocks of one seekable .xz with encoder 'lzma-native' (xz(1) when the addon cannot load), reads
// it back every way packdebug reads (whole Blocks, streamed Blocks, sequentially), and prints JSON:
// whether lzma-native loaded and the SHA-256 of the file and of each read.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';

const dist = (name) => import(new URL(`../../dist/xz/${name}`, import.meta.url).href);
const { loadLzmaNative } = await dist('lzma-native.js');
const { parsePreset, presetOptions } = await dist('lzma2-options.js');
const { XzRandomAccess } = await dist('random-access.js');
const { writeSeekableXz } = await dist('seekable-writer.js');
const { decodeSequential } = await dist('sequential.js');

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const [out, ...inputs] = process.argv.slice(2);

const fh = await fs.open(out, 'w');
try {
  await writeSeekableXz(
    fh,
    (async function* () {
      for (const input of inputs) yield await fs.readFile(input);
    })(),
    { lzma: presetOptions(parsePreset('6')), encoder: 'lzma-native', threads: 2 },
  );
} finally {
  await fh.close();
}

const reads = {};
for (const backend of ['lzma-native', 'auto']) {
  // No cache: every read decodes.
  const ra = await XzRandomAccess.open(out, { backend, cacheBytes: 0 });
  try {
    reads[`${backend} read`] = sha256(await ra.read(0, ra.size));
    const streamed = createHash('sha256');
    for (let i = 0; i < ra.blocks.length; i++) await ra.streamBlock(i, (chunk) => void streamed.update(chunk));
    reads[`${backend} streamBlock`] = streamed.digest('hex');
    reads[`${backend} prefix`] = sha256(await ra.readBlockPrefix(ra.blocks.length - 1, 100));
  } finally {
    await ra.close();
  }
}
const sequential = createHash('sha256');
await decodeSequential(out, (chunk) => void sequential.update(chunk));
reads.sequential = sequential.digest('hex');

process.stdout.write(
  JSON.stringify({ lzmaNative: loadLzmaNative() !== undefined, file: sha256(await fs.readFile(out)), reads }),
);
