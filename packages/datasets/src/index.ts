export * from './spam-assassin';
