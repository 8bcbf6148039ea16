import type http from 'node:http';
import { startLocalServer } from '../../src/demo/local-server';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A tiny HTTP server on 127.0.0.1 with hand-written routes and a request log. */
export async function startServer(routes: Record<string, Handler>): Promise<{ origin: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = await startLocalServer((req, res) => {
    requests.push(req.url ?? '');
    const handler = routes[req.url ?? ''];
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  return { ...server, requests };
}
