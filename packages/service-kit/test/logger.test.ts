import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../src/index';

describe('createLogger', () => {
  it('writes JSON lines carrying the service name, level word and ISO time', () => {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ name: 'router', level: 'debug', destination });
    logger.debug({ eventId: 'e1' }, 'routed');
    logger.trace('hidden below debug');
    const lines = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'router', level: 'debug', eventId: 'e1', msg: 'routed' });
    expect(new Date(String(lines[0]!['time'])).toISOString()).toBe(lines[0]!['time']);
  });
});
