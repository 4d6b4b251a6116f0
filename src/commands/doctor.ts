/** `packdebug doctor`: what this system offers packdebug, and what each command lacks. */
import { describeDoctor, doctorReport } from '../system/doctor.js';
import { printable } from '../util/escape.js';
import type { CommandIO } from '../util/io.js';
import type { DoctorArgs } from './doctor.args.js';

export async function runDoctor(args: DoctorArgs, io: CommandIO): Promise<number> {
  const report = await doctorReport({ env: io.env });
  // Tool versions and paths come from the system: no control characters reach the terminal.
  if (args.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(describeDoctor(report).split('\n').map(printable).join('\n'));
  return report.ok ? 0 : 1;
}
