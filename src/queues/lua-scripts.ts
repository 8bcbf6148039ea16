import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';

/** Lua scripts kept as files beside this module (copied into dist by the build). */
const SCRIPTS = {
  reserveSlot: { file: 'reserve-slot.lua', keys: 1 },
  pushBack: { file: 'push-back.lua', keys: 1 },
  haTransition: { file: 'ha-transition.lua', keys: 1 },
  sessionStats: { file: 'session-stats.lua', keys: 2 },
  releaseLock: { file: 'release-lock.lua', keys: 1 },
  renewLock: { file: 'renew-lock.lua', keys: 1 },
} as const;

export interface ScriptedRedis extends Redis {
  reserveSlot(...args: (string | number)[]): Promise<number>;
  pushBack(...args: (string | number)[]): Promise<number>;
  haTransition(...args: (string | number)[]): Promise<number>;
  sessionStats(...args: (string | number)[]): Promise<number>;
  releaseLock(...args: (string | number)[]): Promise<number>;
  renewLock(...args: (string | number)[]): Promise<number>;
}

/** Registers our scripts on a connection once (EVALSHA with automatic reload). */
export function withScripts(redis: Redis): ScriptedRedis {
  const r = redis as ScriptedRedis;
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (typeof (r as unknown as Record<string, unknown>)[name] === 'function') continue;
    const lua = fs.readFileSync(path.join(__dirname, 'lua', def.file), 'utf8');
    r.defineCommand(name, { numberOfKeys: def.keys, lua });
  }
  return r;
}
