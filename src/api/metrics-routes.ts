import express, { Express, RequestHandler } from 'express';
import type { Metrics } from '../metrics/metrics';
import { requireToken } from './auth';

/** Prometheus' scrape of this process (counters of its work, gauges of the cluster). */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    const { contentType, body } = await metrics.scrape();
    res.type(contentType).send(body);
  };
}

/** What `worker --metrics-port` serves: `/metrics` only, behind the same bearer token as the API. */
export function createMetricsApp(metrics: Metrics, token: string): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', requireToken(token), metricsHandler(metrics));
  return app;
}
