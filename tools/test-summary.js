// Sums the jest results every package wrote (.test-results/jest.json) into closing lines: each
// failed test with the first lines of its failure, then the totals.
//   node tools/test-summary.js --clean        removes the results of an earlier run
//   node tools/test-summary.js --status N     sums them; exits 1 if N (turbo's status) is not 0,
//                                             if a test failed, or if none passed
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const resultFiles = () => {
  const files = [];
  for (const group of ['packages', 'services']) {
    const dir = path.join(root, group);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) files.push(path.join(dir, name, '.test-results', 'jest.json'));
  }
  // deploy/ is a package of its own (the deploy checks).
  files.push(path.join(root, 'deploy', '.test-results', 'jest.json'));
  return files.filter((file) => fs.existsSync(file));
};

const args = process.argv.slice(2);
if (args.includes('--clean')) {
  for (const file of resultFiles()) fs.rmSync(file);
  process.exit(0);
}
const statusAt = args.indexOf('--status');
const turboStatus = statusAt >= 0 ? Number(args[statusAt + 1]) : 0;

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const brokenSuites = [];
for (const file of resultFiles()) {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  for (const suite of r.testResults ?? []) {
    const where = path.relative(root, suite.name);
    const failedHere = (suite.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failedHere)
      failures.push({ where, title: a.fullName ?? a.title, message: a.failureMessages?.[0] ?? '' });
    // A suite that failed to run (syntax error, a hook that threw) has no failed test of its own.
    if (suite.status === 'failed' && failedHere.length === 0)
      brokenSuites.push({ where, message: suite.message ?? '' });
  }
}

const firstLines = (text, n) =>
  text
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, n)
    .map((line) => `      ${line}`)
    .join('\n');
if (failures.length + brokenSuites.length > 0) console.log('\nFailed:');
for (const f of failures) console.log(`  ✕ ${f.where} › ${f.title}\n${firstLines(f.message, 8)}`);
for (const s of brokenSuites)
  console.log(`  ✕ ${s.where} (the suite did not run)\n${firstLines(s.message, 8)}`);
console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (turboStatus !== 0) console.log(`turbo exited with status ${turboStatus}`);
process.exit(turboStatus !== 0 || failed > 0 || brokenSuites.length > 0 || passed === 0 ? 1 : 0);
