import type { PluginFactory } from '../plugin-api';

/**
 * Alerts as a JSON POST (`{kind, node, message, at}`) to `options.url`; on when
 * `alerts.webhook_url` is set. An unreachable hook or an error answer throws: the plugin host
 * logs and counts it.
 */
export const createWebhookNotifier: PluginFactory = ({ options }) => {
  const url = options.url;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new Error('webhook: options.url must be an http(s) URL');
  return {
    async notify(alert) {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`the alert webhook answered ${res.status}`);
    },
  };
};
