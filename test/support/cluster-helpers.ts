import pg from 'pg';

export async function isInRecovery(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r;
  } finally {
    await c.end();
  }
}

/** Until the standby has replayed the creation of the database and answers in recovery. */
export async function waitForReplica(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await isInRecovery(url).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`standby ${url} never became readable`);
}
