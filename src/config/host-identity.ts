import os from 'node:os';
import type { AppConfig } from './config-schema';

/** This host's name among its peers: sync.host_name, else the machine's hostname. */
export function hostName(config: AppConfig): string {
  return config.sync.host_name ?? (os.hostname().replace(/[^A-Za-z0-9_-]/g, '-') || 'localhost');
}

/** The bearer token hosts present to each other (sync.token; required once peers are configured). */
export function syncToken(config: AppConfig): string | undefined {
  return config.sync.token;
}
