/**
 * Portage-style messages: ` * text` with a coloured star, written to stderr
 * the way Portage's einfo/ewarn/eerror (bin/isolated-functions.sh) write
 * them, so that packdebug's lines blend into an emerge log.
 *
 * Colours follow Portage's rules, plus the TTY test for standalone use:
 *  - NO_COLOR set to anything non-empty: no colours (https://no-color.org).
 *  - NOCOLOR=no|false: colours; NOCOLOR set to anything else (yes, true, …):
 *    no colours. Portage itself only colours for no/false/unset.
 *  - NOCOLOR unset or empty: colours when the stream is a TTY, or when we
 *    run inside a Portage phase (EBUILD_PHASE set). In a phase the stream is
 *    Portage's log pipe, never a TTY, yet Portage colours its own e* lines
 *    around ours; emerge sets NOCOLOR=true itself when it wants none.
 * Colour codes come from PORTAGE_COLORMAP (color.map(5), exported by the
 * bashrc hook) when it defines them, else Portage's defaults.
 */
import type { CommandIO, PackLogger } from '../util/io.js';
import { printable } from '../util/escape.js';

export interface MessageColors {
  info: string;
  warn: string;
  error: string;
  normal: string;
}

/** Portage's defaults (isolated-functions.sh __set_colors). */
export const DEFAULT_COLORS: Readonly<MessageColors> = {
  info: '\x1b[32m',
  warn: '\x1b[33;01m',
  error: '\x1b[31;01m',
  normal: '\x1b[0m',
};

export const NO_COLORS: Readonly<MessageColors> = { info: '', warn: '', error: '', normal: '' };

type Stream = { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };

/** Whether messages to `stream` are coloured under `env` (see the module comment). */
export function useColor(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): boolean {
  if ((env['NO_COLOR'] ?? '') !== '') return false;
  const nocolor = (env['NOCOLOR'] ?? '').trim().toLowerCase();
  if (nocolor !== '') return nocolor === 'no' || nocolor === 'false';
  if (stream.isTTY === true) return true;
  return (env['EBUILD_PHASE'] ?? '') !== '';
}

/** The colour codes to use for `stream`, or NO_COLORS. */
export function messageColors(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): MessageColors {
  if (!useColor(env, stream)) return { ...NO_COLORS };
  const map = parseColorMap(env['PORTAGE_COLORMAP'] ?? '');
  return {
    info: map['INFO'] ?? DEFAULT_COLORS.info,
    warn: map['WARN'] ?? DEFAULT_COLORS.warn,
    error: map['ERR'] ?? DEFAULT_COLORS.error,
    normal: map['NORMAL'] ?? DEFAULT_COLORS.normal,
  };
}

/**
 * Reads `PORTAGE_COLOR_X=$'...'` (or '...' / "...") assignments from
 * PORTAGE_COLORMAP, the shell code Portage evaluates to set its colours.
 * Only ANSI-looking values are accepted; anything else is ignored.
 */
export function parseColorMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /PORTAGE_COLOR_([A-Z]+)=(?:\$'((?:[^'\\]|\\.)*)'|'([^']*)'|"([^"]*)")/g;
  for (const m of text.matchAll(re)) {
    const name = m[1] ?? '';
    const raw = m[2] !== undefined ? unescapeAnsiC(m[2]) : (m[3] ?? m[4] ?? '');
    // eslint-disable-next-line no-control-regex -- ESC is intended: only ANSI SGR sequences are a color
    if (/^(?:\x1b\[[0-9;]*m)*$/.test(raw)) out[name] = raw;
  }
  return out;
}

function unescapeAnsiC(s: string): string {
  return s.replace(/\\(e|E|033|x1[bB]|\\|')/g, (_, esc: string) => {
    if (esc === '\\') return '\\';
    if (esc === "'") return "'";
    return '\x1b';
  });
}

export interface PortageMessages {
  einfo(message: string): void;
  ewarn(message: string): void;
  eerror(message: string): void;
}

/**
 * einfo/ewarn/eerror writing to `stream`: one ` * ` line per line of the
 * message, like Portage's `echo -e "$@" | while read -r; do ...` loop.
 */
export function portageMessages(stream: Stream, colors: MessageColors): PortageMessages {
  const emit = (color: string, message: string) => {
    const lines = message.split('\n');
    let text = '';
    for (const line of lines) text += ` ${color}*${colors.normal} ${line}\n`;
    stream.write(text);
  };
  return {
    einfo: (m) => emit(colors.info, m),
    ewarn: (m) => emit(colors.warn, m),
    eerror: (m) => emit(colors.error, m),
  };
}

/** Portage-style messages on `io.stderr`, coloured per `io.env`, with an optional transient progress line. */
export interface PortageOutput extends PortageMessages {
  /** Draws a transient progress line; only on a real TTY (never into a build log). */
  progress?(message: string): void;
}

export function portageOutput(io: CommandIO): PortageOutput {
  const msg = portageMessages(io.stderr, messageColors(io.env, io.stderr));
  if (io.stderr.isTTY !== true) return msg;
  let shown = false;
  const clear = () => {
    if (shown) io.stderr.write('\r\x1b[K');
    shown = false;
  };
  return {
    einfo: (m) => (clear(), msg.einfo(m)),
    ewarn: (m) => (clear(), msg.ewarn(m)),
    eerror: (m) => (clear(), msg.eerror(m)),
    progress: (m) => {
      // \r + clear-to-end keeps a single transient line; the next e* line replaces it.
      io.stderr.write(`\r\x1b[K * ${m}`);
      shown = true;
    },
  };
}

/** A PackLogger printing the engine's notices as einfo/ewarn lines (progress only on a TTY). */
const printableLines = (m: string) => m.split('\n').map(printable).join('\n');

export function portageLogger(io: CommandIO, out: PortageOutput = portageOutput(io)): PackLogger {
  const logger: PackLogger = {
    // The engine's notices name image paths: no control characters, but their
    // own line breaks stay (each line gets its ' * ', as Portage's einfo does).
    info: (m) => out.einfo(printableLines(m)),
    warn: (m) => out.ewarn(printableLines(m)),
  };
  if (out.progress) {
    const progress = out.progress;
    logger.progress = (m) => progress(printable(m));
  }
  return logger;
}
