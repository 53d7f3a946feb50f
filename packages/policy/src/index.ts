export * from './policy';
export * from './route';
export * from './thresholds';
export * from './near-duplicates';
