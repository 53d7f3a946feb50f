// Gzip with bounded inflation. kafkajs inflates a fetched record batch whole and without limit, so
// one small gzip batch built to inflate to gigabytes would run a consumer out of memory. This
// replaces kafkajs' gzip codec (process-wide) with one that refuses to inflate past a limit. The
// other codecs (snappy, lz4, zstd) kafkajs does not implement, so a batch in one of them is refused
// as well. A refused batch fails its fetch: its partition stands still, the consumer turns unready
// (hitl_consumer_stalled_seconds) and the operator moves the group past it.
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { promisify } from 'node:util';
import { gzip, unzip, type ZlibOptions } from 'node:zlib';

/** Default ceiling of one inflated gzip batch: far above any batch of records within limits. */
export const MAX_INFLATED_BATCH_BYTES = 64 * 1024 * 1024;

const gzipAsync = promisify(gzip);
const unzipAsync = promisify<Buffer, ZlibOptions, Buffer>(unzip);

/** A gzip batch that would inflate past the limit. */
export class InflationLimitError extends Error {
  readonly code = 'HITL_ERR_INFLATE_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`a gzip record batch inflates past the limit of ${limit} bytes; refused`);
    this.name = 'InflationLimitError';
  }
}

let installedLimit: number | null = null;

/** Installs the bounded gzip codec for every kafkajs client of this process (again: new limit). */
export function boundGzipInflation(maxBytes = MAX_INFLATED_BATCH_BYTES): void {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`inflation limit ${maxBytes}`);
  installedLimit = maxBytes;
  CompressionCodecs[CompressionTypes.GZIP] = () => ({
    async compress(encoder: { buffer: Buffer }) {
      return gzipAsync(encoder.buffer);
    },
    async decompress(buffer: Buffer) {
      try {
        return await unzipAsync(buffer, { maxOutputLength: maxBytes });
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
          throw new InflationLimitError(maxBytes);
        throw error;
      }
    },
  });
}

/** The limit installed, or null before boundGzipInflation ran. */
export function gzipInflationLimit(): number | null {
  return installedLimit;
}

boundGzipInflation();
