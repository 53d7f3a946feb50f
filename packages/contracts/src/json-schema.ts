import { allTopics } from './topics';

/** The JSON Schema (draft 2020-12 compatible) of every topic, keyed by topic name. */
export function topicJsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const topic of allTopics) {
    out[topic.name] = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `https://hitl.dev/schemas/${topic.name}.json`,
      title: topic.name,
      ...(JSON.parse(JSON.stringify(topic.schema)) as object),
    };
  }
  return out;
}
