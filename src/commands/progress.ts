import type { CommandIO } from '../util/io.js';
import { printable } from '../util/escape.js';

/**
 * A one-line progress display on stderr, only when stderr is a terminal
 * (never in logs, pipes or Portage's build log).
 */
export function progressLine(io: CommandIO): { update(message: string): void; clear(): void } {
  if (!io.stderr.isTTY) return { update: () => undefined, clear: () => undefined };
  let shown = false;
  let last = 0;
  return {
    update(message: string) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      io.stderr.write(`\r\x1b[K${printable(message)}`);
    },
    clear() {
      if (shown) io.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}
