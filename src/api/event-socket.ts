import http, { type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Express, Request } from 'express';
import { WebSocketServer } from 'ws';
import type { EventStream } from './event-stream';

/** A WebSocket upgrade passed through the Express app, with what `ws` needs to take it over. */
interface UpgradeRequest extends IncomingMessage {
  upgradeHead?: Buffer;
}

/**
 * WebSocket upgrades go through the same Express app as every request — IP allow-list, token or
 * session cookie, role, rate limit — and only `GET /api/events` takes them (events.attachSocket).
 * What the app answers instead (401, 403, 404, 429) is written to the socket, which is then
 * closed.
 */
export function acceptUpgrades(server: Server, app: Express): void {
  server.on('upgrade', (req: UpgradeRequest, socket: Socket, head: Buffer) => {
    req.upgradeHead = head;
    const res = new http.ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => socket.destroy());
    app(req as Request, res as never);
  });
}

/** The /api/events handler's WebSocket half: true when it took the request over. */
export function takeOverUpgrade(sockets: WebSocketServer, events: EventStream, req: Request, res: http.ServerResponse): boolean {
  const head = (req as UpgradeRequest).upgradeHead;
  if (!head || req.headers.upgrade?.toLowerCase() !== 'websocket') return false;
  res.detachSocket(req.socket);
  sockets.handleUpgrade(req, req.socket, head, (ws) => events.attachSocket(ws));
  return true;
}

export function eventSockets(): WebSocketServer {
  return new WebSocketServer({ noServer: true, maxPayload: 4096 });
}
