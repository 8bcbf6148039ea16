import { once } from 'node:events';
import WebSocket from 'ws';

/** What a client of `GET /api/events` received: events by name, with their data. */
export type Received = { event: string; data: Record<string, unknown> }[];

/** A server-sent-events client of `url`, filling `into`; abort() ends it. */
export function readSse(url: string, token: string, into: Received): AbortController {
  const abort = new AbortController();
  void (async () => {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (event && data) into.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch(() => undefined);
  return abort;
}

/** A WebSocket client of `url` (ws://…/api/events), open, filling `into`. */
export async function openEventSocket(url: string, token: string, into: Received): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
  ws.on('message', (m) => into.push(JSON.parse(m.toString())));
  await once(ws, 'open');
  return ws;
}
