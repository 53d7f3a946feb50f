// What the route files share: the error reference, the views of stored records, and the
// dependencies they are given.
import {
  type ApiKeyInfo as KeyInfo,
  type ModelVersionSummary as ModelSummary,
  type Reviewer as ReviewerRecord,
  type StoredPolicy as PolicyRecord,
} from '@hitl/db';
import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import type { Authenticator } from '../auth';
import type { TaskStore } from '../tasks';

export const E = Type.Ref('ErrorBody');
export const iso = (d: Date | null) => d?.toISOString() ?? null;

export const reviewerView = (r: ReviewerRecord) => ({
  ...r,
  createdAt: r.createdAt.toISOString(),
  disabledAt: iso(r.disabledAt),
});
export const keyView = (k: KeyInfo) => ({
  ...k,
  createdAt: k.createdAt.toISOString(),
  revokedAt: iso(k.revokedAt),
  lastUsedAt: iso(k.lastUsedAt),
  expiresAt: iso(k.expiresAt),
});
export const policyView = (p: PolicyRecord) => ({ ...p, createdAt: p.createdAt.toISOString() });
export const modelView = (m: ModelSummary) => ({
  modelId: m.modelId,
  version: m.version,
  status: m.status,
  classes: m.classes,
  inputKind: m.inputKind,
  featureWidth: m.featureWidth,
  metrics: m.metrics,
  modelCard: m.modelCard,
  thresholds: m.thresholds,
  temperature: m.temperature,
  parentVersion: m.parentVersion,
  createdAt: m.createdAt.toISOString(),
  promotedAt: iso(m.promotedAt),
});

export interface RouteDeps {
  pool: Pool;
  tasks: TaskStore;
  authenticator: Authenticator;
  /** The routing policy the admin endpoints change (the router's POLICY_NAME). */
  policyName: string;
  /** Called after a change that wrote outbox rows (model promotion or rollback). */
  onOutbox: () => void;
  /** A reviewer estimated less accurate than this is flagged (RELIABILITY_FLAG_BELOW). */
  reliabilityFlagBelow: number;
}
