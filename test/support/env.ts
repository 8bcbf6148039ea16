// Loaded first by mocha (see .mocharc.json): quiet logs unless LOG_LEVEL asks otherwise.
process.env.NODE_ENV = 'test';
process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'error';
