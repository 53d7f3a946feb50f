// Writes schemas/<topic>.json for consumers outside TypeScript: `pnpm schemas`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { topicJsonSchemas } from './json-schema';

const dir = join(__dirname, '..', 'schemas');
mkdirSync(dir, { recursive: true });
for (const [name, schema] of Object.entries(topicJsonSchemas())) {
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote schemas/${name}.json`);
}
