export * from './spam-assassin';
export * from './first-names';
