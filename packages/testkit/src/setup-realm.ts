import { runInThisContext } from 'node:vm';

// Jest runs tests in their own V8 context; onnxruntime-node's native code creates its output
// typed arrays in Node's main context. Use the main context's constructors in the sandbox so
// that onnxruntime-common's `instanceof` checks (and ours) agree.
const names = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;
const outer = runInThisContext(`({ ${names.join(', ')} })`) as Record<string, unknown>;
for (const name of names) {
  Object.defineProperty(globalThis, name, { value: outer[name], writable: true, configurable: true });
}
