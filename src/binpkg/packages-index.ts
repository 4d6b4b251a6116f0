/**
 * PKGDIR's `Packages` index (Portage's binhost index): a header stanza, then
 * one stanza per binpkg, stanzas separated by blank lines, lines `KEY: value`.
 * A stanza's file is its PATH, or `${CPV}.tbz2` when PATH is absent (the
 * classic layout, as Portage's bintree reads it).
 */

export interface PackagesIndexEntry {
  cpv: string;
  buildNumber: string | undefined;
  /** Relative to PKGDIR, as written in the index (not yet checked for safety). */
  path: string;
  /** SIZE and MTIME when the index has them, to notice a stale index. */
  size: number | undefined;
  mtime: number | undefined;
  values: ReadonlyMap<string, string>;
}

export interface PackagesIndex {
  header: ReadonlyMap<string, string>;
  entries: PackagesIndexEntry[];
  /** Stanzas without CPV, by 1-based line number (reported, not fatal). */
  invalid: number[];
}

export function parsePackagesIndex(text: string): PackagesIndex {
  const stanzas: { line: number; values: Map<string, string> }[] = [];
  let current: { line: number; values: Map<string, string> } | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      current = undefined;
      return;
    }
    if (current === undefined) {
      current = { line: i + 1, values: new Map() };
      stanzas.push(current);
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return;
    current.values.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  });
  // The header comes first; an index cut down to package stanzas has none.
  const header =
    stanzas[0] !== undefined && !stanzas[0].values.has('CPV') ? stanzas.shift()!.values : new Map<string, string>();
  const entries: PackagesIndexEntry[] = [];
  const invalid: number[] = [];
  for (const s of stanzas) {
    const cpv = s.values.get('CPV');
    if (!cpv) {
      invalid.push(s.line);
      continue;
    }
    const num = (key: string) => {
      const v = s.values.get(key);
      return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined;
    };
    entries.push({
      cpv,
      buildNumber: s.values.get('BUILD_ID') || undefined,
      path: s.values.get('PATH') || `${cpv}.tbz2`,
      size: num('SIZE'),
      mtime: num('MTIME'),
      values: s.values,
    });
  }
  return { header, entries, invalid };
}
