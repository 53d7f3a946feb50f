import type { OutboxRow } from '@hitl/db';
import type { EncodedOutputs } from '@hitl/kafka';

/** Header carrying the outbox row id on every published record. */
export const OUTBOX_ID_HEADER = 'hitl-outbox-id';

/** Outbox rows as Kafka records grouped by topic, in row order: key, JSON value, headers + the row id. */
export function encodeOutboxRows(rows: readonly OutboxRow[]): EncodedOutputs {
  const encoded: EncodedOutputs = new Map();
  for (const row of rows) {
    const message = {
      key: row.key,
      value: Buffer.from(JSON.stringify(row.value)),
      headers: { ...row.headers, [OUTBOX_ID_HEADER]: row.id },
    };
    const list = encoded.get(row.topic);
    if (list) list.push(message);
    else encoded.set(row.topic, [message]);
  }
  return encoded;
}
