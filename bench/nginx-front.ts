// nginx in front of the synthetic site for the benchmark: the web server the reference figures
// of issue 3 were measured with, and far cheaper per request than a Node server, so the
// machine's two cores go to the crawler being measured. nginx serves every static answer from
// files; whatever it has no file for (redirects, 404s, the slow endpoint, the spider trap, a
// body whose type its extension would misstate) goes to the site's own Node servers.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RunningSite, SiteRoute } from '../src/demo/synthetic-site';
import { processCpuS } from './proc-cpu';

/** The types nginx's own mime.types gives these extensions. */
const NGINX_TYPES: Record<string, string> = {
  html: 'text/html',
  css: 'text/css',
  txt: 'text/plain',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  avif: 'image/avif',
  ico: 'image/x-icon',
};

export interface NginxFront {
  /** Requests nginx answered (its access log). */
  requests(): Promise<number>;
  /** CPU seconds of nginx's processes so far. */
  cpuS(): number;
  close(): Promise<void>;
}

export function findNginx(): string | undefined {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(path.delimiter)];
  return dirs.map((d) => path.join(d, 'nginx')).find((p) => fs.existsSync(p));
}

/** Starts nginx on the ports of `site.origin` and `site.cdnOrigin` (see SiteOptions.publishAt). */
export async function startNginxFront(bin: string, site: RunningSite): Promise<NginxFront> {
  // tmpfs when there is one: the site's files are not what the benchmark measures, and writing
  // and deleting a gigabyte on ext4 would slow the crawler's own file creation (crawl-bench.ts).
  const base = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'image-crawler-nginx-'));
  fs.chmodSync(base, 0o755); // nginx's workers drop root for an unprivileged user, who must read the files
  const servers = [
    { name: 'site', published: site.origin, backend: site.backends.origin, routes: site.routes.site },
    { name: 'cdn', published: site.cdnOrigin, backend: site.backends.cdnOrigin, routes: site.routes.cdn },
  ];
  for (const s of servers) writeStaticFiles(s.routes, path.join(base, s.name));
  const port = (origin: string) => new URL(origin).port;
  const conf = `
worker_processes 1;
pid ${base}/nginx.pid;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  log_format counted '$status';
  access_log ${base}/access.log counted buffer=64k flush=100ms;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path ${base}/tmp-body;
  proxy_temp_path ${base}/tmp-proxy;
  fastcgi_temp_path ${base}/tmp-fastcgi;
  uwsgi_temp_path ${base}/tmp-uwsgi;
  scgi_temp_path ${base}/tmp-scgi;
${servers
  .map(
    (s) => `
  upstream ${s.name}_backend { server ${new URL(s.backend).host}; keepalive 16; }
  server {
    listen 127.0.0.1:${port(s.published)};
    root ${base}/${s.name};
    index index.html;
    location / { try_files $uri $uri/ @backend; }
    location @backend {
      proxy_pass http://${s.name}_backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
  )
  .join('\n')}
}
`;
  fs.writeFileSync(path.join(base, 'nginx.conf'), conf);
  const child = spawn(bin, ['-p', base, '-c', path.join(base, 'nginx.conf'), '-e', path.join(base, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([
    Promise.all(servers.map((s) => waitForPort(Number(port(s.published))))),
    exited.then(() => Promise.reject(new Error(`nginx exited at start; see ${base}/error.log`))),
  ]);
  return {
    requests: async () => {
      await new Promise((r) => setTimeout(r, 300)); // the access log is flushed every 100 ms
      return fs.readFileSync(path.join(base, 'access.log'), 'utf8').split('\n').length - 1;
    },
    cpuS: () => processCpuS([child.pid as number, ...childrenOf(child)]),
    close: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * Writes each plain 200 answer as a file at its decoded path ('…/' as '…/index.html'); the
 * query string is dropped (nginx maps $uri alone), so a path served under two queries is left
 * to the backend, as is a body whose type nginx would name differently.
 */
function writeStaticFiles(routes: ReadonlyMap<string, SiteRoute>, root: string): void {
  const byPath = new Map<string, SiteRoute | null>();
  for (const [key, route] of routes) {
    const p = key.split('?')[0];
    byPath.set(p, byPath.has(p) ? null : route);
  }
  for (const [p, route] of byPath) {
    if (!route || route.status !== 200 || route.body === undefined || route.delayMs || route.location) continue;
    const file = p.endsWith('/') ? `${p}index.html` : p;
    const ext = path.extname(file).slice(1).toLowerCase();
    if (NGINX_TYPES[ext] !== route.type?.split(';')[0].trim()) continue;
    const decoded = decodeURIComponent(file);
    if (decoded.split('/').includes('..')) continue;
    const target = path.join(root, decoded);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, route.body);
  }
}

function childrenOf(child: ChildProcess): number[] {
  try {
    return fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on port ${port}`);
}
