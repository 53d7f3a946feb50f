// @hitl/contracts: topic names and record schemas. Its one dependency is @sinclair/typebox;
// keep it that way, every service and the HTTP API import it.
export * from './envelope';
export * from './records';
export * from './topics';
export * from './validation';
export * from './json-schema';
export * from './examples';
export * from './gold';
