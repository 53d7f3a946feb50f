// onnxruntime-node runs in these tests: see the base config.
module.exports = require('../../jest.config.base.js')(__dirname, { onnxruntime: true });
