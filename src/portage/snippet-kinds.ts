/**
 * The kinds of `packdebug snippet`, apart from the templates (snippets.ts)
 * so that the CLI's option table can list them without loading those.
 */
export const SNIPPET_KINDS = [
  'make.conf',
  'bashrc',
  'debuginfod-systemd',
  'debuginfod-openrc',
  'serve-systemd',
  'serve-openrc',
  'client',
] as const;
export type SnippetKind = (typeof SNIPPET_KINDS)[number];
