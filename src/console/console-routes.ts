import express, { Response, Router } from 'express';
import { Credentials } from '../api/auth';
import { CONSOLE_CSS } from './console-css';
import { CONSOLE_JS } from './console-js';

/** What the browser may load on a console page: our own script, style and images, nothing else. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGES = {
  sessions: { path: '/', title: 'Sessions', nav: '/' },
  session: { path: '/sessions/:id', title: 'Session', nav: '/' },
  gallery: { path: '/gallery', title: 'Gallery', nav: '/gallery' },
  image: { path: '/images/:id', title: 'Image', nav: '/gallery' },
  cluster: { path: '/cluster', title: 'Cluster', nav: '/cluster' },
} as const;

const NAV: [string, string][] = [
  ['/', 'Sessions'],
  ['/gallery', 'Gallery'],
  ['/cluster', 'Cluster'],
  ['/admin/queues', 'Queues'],
];

/**
 * The web console (`web`, at `/`): server-rendered shells, a script that reads the JSON API with
 * the browser session, and live numbers from `/api/events`. Signing in is a form or a
 * `?token=` link; the cookie holds a signed session, never the token.
 */
export function consoleRoutes(auth: Credentials): Router {
  const r = Router();

  r.get('/console.css', (_req, res) => res.type('text/css').set('Cache-Control', 'no-cache').send(CONSOLE_CSS));
  r.get('/console.js', (_req, res) => res.type('text/javascript').set('Cache-Control', 'no-cache').send(CONSOLE_JS));

  r.get('/login', (req, res) => sendLogin(res, nextOf(req.query.next), null));
  r.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const next = nextOf(req.body?.next);
    const caller = typeof req.body?.token === 'string' ? await auth.identify(req.body.token) : null;
    if (!caller) return sendLogin(res.status(401), next, 'That is not an API token.');
    auth.startSession(res, caller);
    res.redirect(303, next);
  });
  r.post('/logout', (_req, res) => {
    auth.endSession(res);
    res.redirect(303, '/login');
  });

  for (const [page, spec] of Object.entries(PAGES)) {
    r.get(spec.path, async (req, res) => {
      if (typeof req.query.token === 'string') return auth.acceptLink(req, res);
      if (!(await auth.callerOf(req, true))) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      const id = 'id' in req.params ? String(req.params.id) : '';
      sendPage(res, spec.title, spec.nav, `<main data-page="${page}" data-id="${escapeHtml(id)}"></main>`);
    });
  }
  return r;
}

/** Where to go after signing in: a path on this site only (never `//elsewhere`). */
function nextOf(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/';
}

function sendLogin(res: Response, next: string, error: string | null): void {
  const body = `<main data-page="login"><h1>Sign in</h1><section class="card"><form method="post" action="/login" class="row">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label>API token<input type="password" name="token" autocomplete="current-password" required autofocus size="40"></label>
<button class="primary" type="submit">Sign in</button></form>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<p class="muted">A token of api.tokens, API_TOKEN, or the one <code>image-crawler web</code> printed. The browser keeps a 12-hour session, never the token.</p></section></main>`;
  sendPage(res, 'Sign in', '', body, false);
}

function sendPage(res: Response, title: string, nav: string, main: string, script = true): void {
  const links = NAV.map(([href, label]) => `<a href="${href}"${href === nav ? ' class="here"' : ''}>${label}</a>`).join('');
  res
    .status(res.statusCode || 200)
    .set({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' })
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)} · image-crawler</title><link rel="stylesheet" href="/console.css">${script ? '<script src="/console.js" defer></script>' : ''}</head>` +
        `<body><header><strong>image-crawler</strong>${links}</header>${main}</body></html>`,
    );
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
