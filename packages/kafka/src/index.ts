export * from './admin';
export * from './backoff';
export * from './client';
export * from './consumer';
export * from './errors';
export * from './lag';
export * from './metrics';
export * from './producer';
