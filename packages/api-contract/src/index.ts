// @hitl/api-contract: the review API's HTTP contract. Its dependencies are @sinclair/typebox and
// @hitl/contracts, nothing else: the server, the client and the web app all import it, and none
// of them should get fastify, Kafka or Postgres with it.
export * from './errors';
export * from './schemas';
export * from './streams';
