// Sums the jest results every package wrote (.test-results/jest.json) into one closing line.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;
const files = [];
for (const group of ['packages', 'services']) {
  const dir = path.join(root, group);
  if (!fs.existsSync(dir)) continue;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name, '.test-results', 'jest.json');
    if (fs.existsSync(file)) files.push(file);
  }
}
// deploy/ is a package of its own (the deploy checks).
const deployResults = path.join(root, 'deploy', '.test-results', 'jest.json');
if (fs.existsSync(deployResults)) files.push(deployResults);
for (const file of files) {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
