export * from './policy';
export * from './route';
