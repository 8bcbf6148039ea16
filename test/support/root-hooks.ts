import { prepareTestDatabase, removeTempDirs } from './test-env';

/** Once per run: the test database exists and has the current schema. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    await prepareTestDatabase();
  },
  afterAll() {
    removeTempDirs();
  },
};
