import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LocalServer {
  origin: string;
  /** Connections accepted so far (to see keep-alive at work). */
  connectionsAccepted(): number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 (random port) whose close() also drops keep-alive connections. */
export async function startLocalServer(handler: http.RequestListener): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const srv = http.createServer(handler);
  srv.keepAliveTimeout = 30_000;
  srv.on('connection', (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    connectionsAccepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}
