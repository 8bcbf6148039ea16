import nodemailer, { type Transporter } from 'nodemailer';
import type { PluginFactory } from '../plugin-api';

/**
 * Alerts as e-mail, one message each to `options.to` through `options.smtp_url`
 * (smtp://user:password@relay:587, smtps:// for TLS); on when `alerts.email.to` and `SMTP_URL`
 * are set.
 */
export const createEmailNotifier: PluginFactory = ({ options }) => {
  const { smtp_url: url, from, to } = options as { smtp_url?: unknown; from?: unknown; to?: unknown };
  if (typeof url !== 'string' || !/^smtps?:\/\//.test(url)) throw new Error('email: options.smtp_url must be an smtp:// or smtps:// URL');
  if (!Array.isArray(to) || to.length === 0 || !to.every((t) => typeof t === 'string')) throw new Error('email: options.to must list the recipients');
  let transport: Transporter | null = null;
  return {
    async notify(alert) {
      transport ??= nodemailer.createTransport(url, { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
      await transport.sendMail({ from: typeof from === 'string' ? from : undefined, to, subject: `[image-crawler] ${alert.kind}: ${alert.node}`, text: `${alert.message}\n\nat ${alert.at}\n` });
    },
    close() {
      transport?.close();
    },
  };
};
