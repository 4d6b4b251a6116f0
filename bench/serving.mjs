// What the index and serve benchmarks share: the corpus packed into a tree,
// and a real nginx serving a directory on loopback (the tests have their own,
// with access logs and fault options: test/helpers/nginx.ts).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A real nginx serving `root` on loopback (its own config and prefix under `work`). */
export async function startNginx(root, work) {
  const port = await freePort();
  const prefix = path.join(work, 'nginx');
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  fs.writeFileSync(
    conf,
    `${user}worker_processes 1;\ndaemon off;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log;\n` +
      'events { worker_connections 256; }\nhttp {\n' +
      `  access_log ${prefix}/logs/access.log;\n` +
      `  client_body_temp_path ${prefix}/cb; proxy_temp_path ${prefix}/px; fastcgi_temp_path ${prefix}/fc;\n` +
      `  uwsgi_temp_path ${prefix}/uw; scgi_temp_path ${prefix}/sc;\n` +
      '  sendfile on; gzip off;\n' +
      `  server { listen 127.0.0.1:${port}; root ${root}; }\n}\n`,
  );
  const child = spawn(fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx', ['-p', prefix, '-c', conf], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill('SIGQUIT') };
}

/** The corpus image packed by packdebug (`cli`) into TREE/sys-libs/glibc/glibc-2.36-1-debug.tar.xz; its path. */
export function packCorpusTree(cli, image, tree) {
  const tarball = path.join(tree, 'sys-libs/glibc/glibc-2.36-1-debug.tar.xz');
  const id = ['--category', 'sys-libs', '--pn', 'glibc', '--pf', 'glibc-2.36', '--build-id', '1'];
  execFileSync(process.execPath, [cli, 'pack', '-D', image, ...id, '-o', tarball], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return tarball;
}
