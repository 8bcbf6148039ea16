import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import axios, { AxiosInstance, AxiosResponse } from 'axios';
import type { PeerConfig } from '../config/config-schema';
import type { StoredName } from '../storage/content-store';
import { ImageStore, type SetAsideOutcome, readStored } from '../storage/image-store';

/** The peer did not answer at all (down, refusing, unreachable): wait for it, do not burn retries. */
export class PeerUnreachableError extends Error {
  constructor(readonly peer: string, cause: string) {
    super(`peer ${peer} unreachable: ${cause}`);
  }
}

/** The peer answered with an error. */
export class PeerError extends Error {}

export interface PushResult {
  /** The peer had the file already (answered at once). */
  existed: boolean;
  /** Where this transfer started: > 0 when it resumed a broken one. */
  resumedFrom: number;
  bytesSent: number;
}

/** What a host reports about its own store (see file-verifier). */
export interface HostFileReport {
  host: string;
  reachable: boolean;
  error?: string;
  /** Distinct files the stored rows reference. */
  expected: number;
  missing: string[];
  corrupt: string[];
  /** Files in the store that no row references. */
  orphans: number;
  /** Partial files of transfers abandoned for a day, removed by a repairing check. */
  stalePartials?: number;
  /** Files a removal interrupted by a crash had set aside: put back (a row uses them) or dropped. */
  setAside?: SetAsideOutcome;
  repaired: string[];
  unrepaired: string[];
  ok: boolean;
}

const TRANSPORT_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ERR_CANCELED']);

/**
 * Talks to one peer host's internal sync endpoint (/internal/sync, bearer token). Files travel
 * in chunks: an upload asks where the peer's partial copy ends and continues from there, a
 * download asks for the range it lacks, so a broken transfer never starts again from zero.
 */
export class PeerClient {
  private readonly http: AxiosInstance;

  /** `ca`: PEM the peer's certificate is verified against (https:// peers); default the system's CAs. */
  constructor(readonly peer: PeerConfig, token: string, private readonly timeoutMs: number, private readonly chunkBytes: number, ca?: string) {
    this.http = axios.create({
      baseURL: peer.url.replace(/\/$/, '') + '/internal/sync',
      timeout: timeoutMs,
      headers: { Authorization: `Bearer ${token}` },
      validateStatus: () => true,
      maxRedirects: 0,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      httpAgent: new http.Agent({ keepAlive: true }),
      httpsAgent: new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) }),
    });
  }

  /** Copies `name` from `store` to the peer; resumes a transfer the peer holds part of. */
  async push(store: ImageStore, name: StoredName): Promise<PushResult> {
    const size = await store.size(name.relativePath);
    if (size === null) throw new Error(`${fileName(name)} is not in this host's store`);
    // A file of one chunk goes in one request (a 409 says where a partial copy ends); a larger
    // one first asks, so a resumed transfer does not resend a chunk the peer already has.
    let offset = 0;
    if (size > this.chunkBytes) {
      const head = await this.call(() => this.http.head(`/files/${fileName(name)}`));
      if (head.status === 200) return { existed: true, resumedFrom: 0, bytesSent: 0 };
      if (head.status !== 404) throw new PeerError(`peer ${this.peer.name}: HEAD answered ${head.status}`);
      offset = Number(head.headers['upload-offset'] ?? 0);
      if (!(offset >= 0 && offset <= size)) offset = 0;
    }
    let resumedFrom = offset;
    let first = true;
    for (;;) {
      const length = Math.min(this.chunkBytes, size - offset);
      const chunk = length > 0 ? await readRange(store, name.relativePath, offset, length) : Buffer.alloc(0);
      const res = await this.call(() =>
        this.http.put(`/files/${fileName(name)}`, chunk, {
          headers: { 'Content-Type': 'application/octet-stream', 'Upload-Offset': String(offset), 'Upload-Length': String(size) },
        }),
      );
      if (res.status === 200 || res.status === 201) return { existed: res.status === 200, resumedFrom, bytesSent: res.status === 200 ? 0 : size - resumedFrom };
      if (res.status === 202 || res.status === 409) {
        const next = Number(res.data?.offset);
        if (!Number.isInteger(next) || next < 0 || next > size) throw new PeerError(`peer ${this.peer.name}: bad offset in answer`);
        if (first && res.status === 409) resumedFrom = next;
        first = false;
        offset = next;
        continue;
      }
      throw new PeerError(`peer ${this.peer.name}: upload of ${fileName(name)} answered ${res.status}: ${res.data?.error ?? ''}`);
    }
  }

  /** Copies `name` from the peer into `store`, resuming a partial copy; false when the peer lacks it. */
  async pull(store: ImageStore, name: StoredName, maxBytes: number): Promise<boolean> {
    const offset = await store.partialSize(name);
    const res = await this.call(() =>
      this.http.get<Readable>(`/files/${fileName(name)}`, { responseType: 'stream', headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} }),
    );
    if (res.status === 404 || res.status === 416) {
      res.data.destroy();
      if (res.status === 416) await store.dropPartial(name);
      return false;
    }
    if (res.status !== 200 && res.status !== 206) {
      res.data.destroy();
      throw new PeerError(`peer ${this.peer.name}: GET ${fileName(name)} answered ${res.status}`);
    }
    // 200 means the whole file: whatever partial copy we had is replaced.
    const from = res.status === 206 ? offset : 0;
    if (from === 0 && offset > 0) await store.dropPartial(name);
    await store.appendPartial(name, from, res.data, maxBytes).catch((err) => {
      throw isTransportError(err) ? new PeerUnreachableError(this.peer.name, (err as Error).message) : err;
    });
    await store.commitPartial(name);
    return true;
  }

  /** Asks the peer to drop its copy (it keeps it while a row still uses it); returns whether it did. */
  async remove(name: StoredName): Promise<boolean> {
    const res = await this.call(() => this.http.delete<{ removed: boolean }>(`/files/${fileName(name)}`));
    if (res.status !== 200) throw new PeerError(`peer ${this.peer.name}: DELETE ${fileName(name)} answered ${res.status}`);
    return res.data.removed;
  }

  /** Files the peer's rows reference but its store lacks. */
  async missing(): Promise<string[]> {
    const res = await this.call(() => this.http.get<{ missing: string[] }>('/missing'));
    if (res.status !== 200) throw new PeerError(`peer ${this.peer.name}: /missing answered ${res.status}`);
    return res.data.missing;
  }

  /** Asks the peer to verify (and optionally repair) its own store. */
  async verify(repair: boolean): Promise<HostFileReport> {
    // Re-hashing a large store takes far longer than one transfer: allow 20 transfer timeouts.
    const res = await this.call(() => this.http.post<HostFileReport>('/verify', { repair }, { timeout: this.timeoutMs * 20 }));
    if (res.status !== 200) throw new PeerError(`peer ${this.peer.name}: /verify answered ${res.status}`);
    return res.data;
  }

  private async call<T>(request: () => Promise<AxiosResponse<T>>): Promise<AxiosResponse<T>> {
    try {
      return await request();
    } catch (err) {
      if (isTransportError(err)) throw new PeerUnreachableError(this.peer.name, (err as Error).message);
      throw err;
    }
  }
}

export function fileName(name: StoredName): string {
  return `${name.sha256}.${name.ext}`;
}

function isTransportError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (e.code !== undefined && TRANSPORT_ERRORS.has(e.code)) || /socket hang up|aborted/i.test(e.message ?? '');
}

/** `length` bytes of a stored file from `offset` (one chunk of a push). */
async function readRange(store: ImageStore, relative: string, offset: number, length: number): Promise<Buffer> {
  const chunk = await readStored(store, relative, offset, offset + length - 1);
  if (chunk.length !== length) throw new Error(`read ${chunk.length} bytes of ${relative} at ${offset}, wanted ${length}`);
  return chunk;
}
