export { kafkaBrokers, databaseUrl } from './env';
export { uniqueName, uniqueIdentifier } from './names';
export { waitFor, waitForDrain, type WaitForDrainOptions, type WaitForOptions } from './wait';
export {
  createTestDatabase,
  TEST_ROLE_PRIVILEGES,
  testRoleProblem,
  type TestDatabase,
  type TestRoleGrants,
} from './postgres';
export {
  createTestTopics,
  deleteTestTopics,
  uniqueTestTopics,
  type TestTopic,
  type UniqueTestTopics,
} from './kafka';
export { dockerAvailable, startContainers, stopContainers } from './containers';
export { TopicReader, jsonValue, readTopic, type ReadRecord } from './reader';
export { ProcessGroup, type StartProcessOptions } from './process';
export { testKafka, testLogger } from './clients';
export { freePort } from './ports';
export { faultyNetwork, KafkaApiKeys, type FaultyNetwork } from './faulty-network';
export { classTexts } from './texts';
