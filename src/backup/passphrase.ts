import type { BackupConfig } from '../config/config-schema';

/**
 * The passphrase the repositories are encrypted with, or null when `backup.encryption` is false
 * (said explicitly); refused when encryption is on and BACKUP_PASSPHRASE is missing, so no backup
 * is ever taken unencrypted by accident.
 */
export function repositoryPassphrase(config: BackupConfig): string | null {
  if (!config.encryption) return null;
  if (!config.passphrase) throw new Error('backup.encryption is on but BACKUP_PASSPHRASE is not set: no backup is taken unencrypted unless backup.encryption is false');
  return config.passphrase;
}
