import express, { Express, RequestHandler } from 'express';
import type { Metrics } from '../metrics/metrics';
import { Credentials, authenticate } from './auth';

/** Prometheus' scrape of this process (counters of its work, gauges of the cluster). */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    const { contentType, body } = await metrics.scrape();
    res.type(contentType).send(body);
  };
}

/** What `worker --metrics-port` serves: `/metrics` only, to any of the API's tokens. */
export function createMetricsApp(metrics: Metrics, credentials: Credentials): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', authenticate(credentials), metricsHandler(metrics));
  return app;
}
