import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { topics, type ModelLifecycle } from '@hitl/contracts';
import { uniqueName, waitFor } from '@hitl/testkit';
import { toOnnx, trainLinearClassifier, trainTextClassifier } from '@hitl/model';
import { type Kafka, type Consumer } from 'kafkajs';
import { runHitl } from '../src/index';

import { testKafka } from '@hitl/testkit';

export { testKafka };

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout's JSON lines, parsed. */
  lines: Record<string, unknown>[];
}

/** Runs `hitl <argv>` in-process with the given environment, capturing its output. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runHitl(argv, {
    env,
    cwd,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return {
    code,
    stdout,
    stderr,
    get lines() {
      return stdout
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  };
}

/** The scikit-learn models exported by skl2onnx that packages/model keeps as fixtures. */
export const SKLEARN_FIXTURES = join(__dirname, '..', '..', 'model', 'test', 'fixtures');

export function sklearnFixture(name: string): { path: string; classes: string[] } {
  const expected = name.replace(/\.onnx$/, '.expected.json');
  const classes = name.includes('zipmap')
    ? []
    : (JSON.parse(readFileSync(join(SKLEARN_FIXTURES, expected), 'utf8')) as { classes: string[] }).classes;
  return { path: join(SKLEARN_FIXTURES, name), classes };
}

/** A tiny ham/spam text classifier trained here, as ONNX bytes. */
export function textModelOnnx(seed = 1): Uint8Array {
  const texts = ['cheap pills now', 'meeting at noon', 'win money fast', 'lunch tomorrow?', 'free prize'];
  const labels = ['spam', 'ham', 'spam', 'ham', 'spam'];
  return toOnnx(trainTextClassifier({ texts, labels, epochs: 20, seed }), { modelId: 'cli-test' });
}

/** A tiny three-class classifier over 3 numeric features, as ONNX bytes. */
export function featuresModelOnnx(): Uint8Array {
  const features = [
    [0, 0, 1],
    [5, 5, 0],
    [9, 0, 9],
    [0, 1, 1],
    [5, 4, 0],
    [9, 1, 8],
  ];
  const labels = ['low', 'mid', 'high', 'low', 'mid', 'high'];
  return toOnnx(trainLinearClassifier({ features, labels, epochs: 30 }), { modelId: 'cli-test' });
}

/**
 * A text model that inspects fine but that onnxruntime refuses to open: its StringNormalizer
 * asks for a locale ("X") that does not exist.
 */
export function unopenableTextModelOnnx(): Uint8Array {
  const bytes = Buffer.from(textModelOnnx());
  const attribute = bytes.indexOf('locale');
  // The attribute's `s` field right after its name: tag 0x22, length 1, "C".
  const value = bytes.indexOf(Buffer.from([0x22, 0x01, 0x43]), attribute);
  if (attribute < 0 || value < 0 || value - attribute > 8) throw new Error('locale attribute not found');
  bytes[value + 2] = 'X'.charCodeAt(0);
  return bytes;
}

/**
 * A features model that outputs logits, not probabilities: its final Softmax becomes a Flatten
 * (same name length, same `axis` attribute), which passes [N, C] through unchanged.
 */
export function logitsModelOnnx(): Uint8Array {
  const bytes = Buffer.from(featuresModelOnnx());
  const softmax = bytes.indexOf('Softmax');
  if (softmax < 0 || bytes.indexOf('Softmax', softmax + 1) >= 0) throw new Error('one Softmax expected');
  bytes.write('Flatten', softmax);
  return bytes;
}

export async function writeModel(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

export interface PublishedRecord {
  value: ModelLifecycle;
  headers: Record<string, string>;
}

/**
 * hitl.models.v1 from where it ends now: the offsets are taken when the tail is opened, before
 * the command under test runs, and read() returns what was published after them for one model.
 */
export class ModelsTopicTail {
  private constructor(
    private readonly kafka: Kafka,
    private readonly offsets: { partition: number; offset: string }[],
  ) {}

  static async open(kafka: Kafka): Promise<ModelsTopicTail> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topics.models.name);
      return new ModelsTopicTail(
        kafka,
        ends.map(({ partition, high }) => ({ partition, offset: high })),
      );
    } finally {
      await admin.disconnect();
    }
  }

  /** The model's records, waiting until `count` arrived and then `settleMs` more for extras. */
  async read(modelId: string, count: number, settleMs = 1_000): Promise<PublishedRecord[]> {
    const groupId = uniqueName('hitl-cli-test');
    const admin = this.kafka.admin();
    await admin.connect();
    const consumer: Consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    const out: PublishedRecord[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: topics.models.name });
      await consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() !== modelId) return;
          const headers = Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
          );
          out.push({ value: JSON.parse(message.value!.toString()) as ModelLifecycle, headers });
        },
      });
      // Start at the ends taken at open(). (admin.setOffsets on the new group would do too, but
      // costs kafkajs about 5 s.)
      for (const { partition, offset } of this.offsets) {
        consumer.seek({ topic: topics.models.name, partition, offset });
      }
      await waitFor(() => out.length >= count, {
        timeoutMs: 30_000,
        message: `${count} records of ${modelId} on ${topics.models.name}`,
      });
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      return out;
    } finally {
      await consumer.disconnect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  }
}
