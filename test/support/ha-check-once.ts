// Runs one HA health-check round in its own OS process and prints what it did (for race tests).
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/load-config';
import { HaManager } from '../../src/ha/ha-manager';

async function main() {
  const config = loadConfig({ file: process.argv[2] });
  const redis = new Redis(config.redis.url);
  try {
    const { verdict, failover } = await new HaManager(config, redis).check();
    console.log(JSON.stringify({ decision: verdict.decision.kind, failover }));
  } finally {
    redis.disconnect();
  }
}
void main();
