import type { Argv } from 'yargs';
import { SNIPPET_KINDS } from '../portage/snippet-kinds.js';
import { jsonOption } from './options.js';

export interface SnippetArgs {
  kind: string;
  eprefix?: string;
  url?: string;
  port?: number;
  json?: boolean;
}

export const snippetCommand = {
  command: 'snippet <kind>',
  describe:
    'print ready-to-paste configuration: make.conf, bashrc, debuginfod-systemd, debuginfod-openrc, ' +
    'serve-systemd, serve-openrc (packdebug serve), client',
  builder: (y: Argv) =>
    y
      .positional('kind', {
        type: 'string',
        demandOption: true,
        choices: SNIPPET_KINDS,
      })
      .options({
        eprefix: {
          type: 'string',
          describe:
            'Gentoo Prefix (EPREFIX) with packdebug installed, for every path; default: where this packdebug runs ' +
            "from (an installed one's EPREFIX, else the hook of this release or checkout)",
        },
        url: { type: 'string', describe: 'debuginfod URL for the client snippet' },
        port: { type: 'number', describe: 'debuginfod (or packdebug serve) port', default: 8002 },
        ...jsonOption('print {kind, path, text} as JSON'),
      } as const),
};
