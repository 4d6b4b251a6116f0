import type { Argv } from 'yargs';
import { jsonOption } from './options.js';

export interface ListArgs {
  tarball: string;
  json?: boolean;
}

export const listCommand = {
  command: 'list <tarball>',
  describe: 'list members with offsets, build-ids and how debuginfod would index them; summary of the xz Blocks',
  builder: (y: Argv) =>
    y
      .positional('tarball', {
        type: 'string',
        demandOption: true,
        describe: 'a .tar.xz debug tarball, or its http(s):// or file:// URL (read with Range requests)',
      })
      .options(
        jsonOption(
          'print {tarball, blocks, largestBlock, seekable, packdebugLayout, ' +
            'sorted, oneSmallBlock, members, buildIds, entries[]} as JSON',
        ),
      ),
};
