// The pages and their addresses (#/queue, …): hash routing, so a reload keeps the page (and signs
// out, since the key lives in memory only). Pure: no DOM.
import type { Role } from '@hitl/client/browser';

export const PAGES = [
  { id: 'review', label: 'Review' },
  { id: 'queue', label: 'Queue' },
  { id: 'reviewers', label: 'Reviewers' },
  { id: 'models', label: 'Models' },
  { id: 'policy', label: 'Policy' },
  { id: 'learning', label: 'Learning' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

export function pageFromHash(hash: string): PageId | null {
  const id = /^#\/([a-z]+)\/?$/.exec(hash)?.[1];
  return PAGES.find((p) => p.id === id)?.id ?? null;
}

export function hashOf(page: PageId): string {
  return `#/${page}`;
}

/** The page a role may see at an address: reviewers see only the review screen. */
export function allowedPage(role: Role, hash: string): PageId {
  const page = pageFromHash(hash);
  return role === 'admin' && page !== null ? page : 'review';
}

export function pageLabel(page: PageId): string {
  return PAGES.find((p) => p.id === page)?.label ?? page;
}
