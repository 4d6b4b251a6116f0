import type { Argv } from 'yargs';
import { jsonOption } from './options.js';

export interface DoctorArgs {
  json?: boolean;
}

export const doctorCommand = {
  command: 'doctor',
  describe:
    'report the packdebug version and where it runs from, Node.js, the xz backends and the tools each command ' +
    'needs; exit 1 when something a command always needs is missing',
  builder: (y: Argv) => y.options(jsonOption('print {packdebug, node, lzmaNative, tools[], missing[], ok} as JSON')),
};
