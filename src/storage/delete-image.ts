import type { Runtime } from '../runtime';
import { ContentStore } from './content-store';

/**
 * Deletes an image row, and its file when no other row uses it (safe against a worker storing
 * the same content at that moment: see ContentStore.removeUnlessUsed); a removed file is removed
 * from the peers too. Null when there is no such row. The REST route and GraphQL both call this.
 */
export async function deleteImage(rt: Pick<Runtime, 'images' | 'store' | 'fileSync'>, id: number): Promise<{ id: number; fileRemoved: boolean } | null> {
  const deleted = await rt.images.delete(id);
  if (!deleted) return null;
  const file = deleted.file_path;
  const fileRemoved = file ? await rt.store.removeUnlessUsed(file, () => rt.images.fileInUse(file)) : false;
  if (fileRemoved) await rt.fileSync.removed(ContentStore.nameOf(file as string));
  return { id, fileRemoved };
}
