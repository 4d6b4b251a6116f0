/** Files the repository carries under fixtures/ for the tests (see fixtures/README.md). */
import { fileURLToPath } from 'node:url';

/** XZ Utils' .xz/.lzma/.lz test files (0BSD, from xz-utils' tests/files), with their README. */
export const XZ_CONFORMANCE = fileURLToPath(new URL('../../fixtures/xz-conformance', import.meta.url));
