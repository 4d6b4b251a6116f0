// Preloaded into a child node process (node --require): on exit, writes the
// process's peak RSS (VmHWM, in bytes) to the file named by PACKDEBUG_PEAK_RSS_FILE.
const fs = require('node:fs');
process.on('exit', () => {
  const out = process.env.PACKDEBUG_PEAK_RSS_FILE;
  if (!out) return;
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (m) fs.writeFileSync(out, String(Number(m[1]) * 1024));
});
