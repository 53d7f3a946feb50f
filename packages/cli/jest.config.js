const base = require('../../jest.config.base.js')(__dirname);

module.exports = {
  ...base,
  // onnxruntime-node's native binding returns typed arrays of Node's main realm, which fail the
  // `instanceof Float32Array` checks of onnxruntime-common inside jest's sandbox.
  setupFiles: ['<rootDir>/test/setup-realm.ts'],
};
