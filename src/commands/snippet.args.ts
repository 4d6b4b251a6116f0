import type { Argv } from 'yargs';
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
        choices: [
          'make.conf',
          'bashrc',
          'debuginfod-systemd',
          'debuginfod-openrc',
          'serve-systemd',
          'serve-openrc',
          'client',
        ],
      })
      .options({
        eprefix: { type: 'string', describe: 'Gentoo Prefix (EPREFIX) to apply to every path', default: '' },
        url: { type: 'string', describe: 'debuginfod URL for the client snippet' },
        port: { type: 'number', describe: 'debuginfod (or packdebug serve) port', default: 8002 },
        ...jsonOption('print {kind, path, text} as JSON'),
      } as const),
};
