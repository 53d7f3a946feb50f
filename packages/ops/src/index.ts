export * from './lag';
export * from './models';
export * from './promql';
export * from './review-queue';
export * from './status';
