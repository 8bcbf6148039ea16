import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { configSchema } from '../../src/config/config-schema';
import { loadConfig } from '../../src/config/load-config';
import { ConfigError } from '../../src/errors';
import { tempDir } from '../support/test-env';

function yamlFile(text: string): string {
  const file = path.join(tempDir('config'), 'config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('has defaults that work on a local machine', () => {
    const c = loadConfig({ env: {} });
    expect(c.database.url).to.equal('postgres://postgres@127.0.0.1:5432/image_crawler');
    expect(c.redis.url).to.equal('redis://127.0.0.1:6379');
    expect(c.api.port).to.equal(8000);
    expect(c.api.token).to.equal(undefined);
    expect(c.crawler.allow_private).to.equal(false);
  });

  it('reads YAML, then env, then overrides', () => {
    const file = yamlFile('crawler:\n  max_pages: 50\n  user_agent: test-agent\napi:\n  port: 9000\n');
    const c = loadConfig({
      file,
      env: { API_PORT: '9100', DATABASE_URL: 'postgres://db.internal/x', IMAGE_CRAWLER__CRAWLER__MAX_DEPTH: '4' },
      overrides: { crawler: { max_pages: 7 } },
    });
    expect(c.api.port).to.equal(9100);
    expect(c.database.url).to.equal('postgres://db.internal/x');
    expect(c.crawler.max_depth).to.equal(4);
    expect(c.crawler.max_pages).to.equal(7);
    expect(c.crawler.user_agent).to.equal('test-agent');
  });

  it('names the key of a typo', () => {
    const file = yamlFile('crawler:\n  max_pagez: 50\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(ConfigError, /unknown key "crawler.max_pagez"/);
  });

  it('names the key of a wrong type or value', () => {
    expect(() => loadConfig({ file: yamlFile('worker:\n  attempts: many\n'), env: {} })).to.throw(ConfigError, /worker.attempts: Expected number/);
    expect(() => loadConfig({ env: { API_PORT: 'eighty' } })).to.throw(ConfigError, /api.port/);
    expect(() => loadConfig({ env: { IMAGE_CRAWLER__CRAWLER__ALLOW_NETS: '[10.0.0.0/33]' } })).to.throw(ConfigError, /crawler.allow_nets.0/);
    expect(() => loadConfig({ env: { API_TOKEN: 'short' } })).to.throw(ConfigError, /api.token \(from API_TOKEN\): must be at least 16/);
    expect(() => loadConfig({ env: { DATABASE_URL: 'garbage' } })).to.throw(ConfigError, /database.url \(from DATABASE_URL\): not a postgres:\/\/ URL/);
    expect(() => loadConfig({ env: { REDIS_URL: 'localhost:6379' } })).to.throw(ConfigError, /redis.url \(from REDIS_URL\): not a redis:\/\/ URL/);
    expect(() => loadConfig({ env: {}, overrides: { crawler: { allow_nets: ['1.2.3.4/40'] } } })).to.throw(ConfigError, /crawler.allow_nets.0 \(from the command line\)/);
    expect(() => loadConfig({ env: { IMAGE_CRAWLER__NOPE__X: '1' } })).to.throw(ConfigError, /unknown key "nope"/);
    expect(() => loadConfig({ env: { IMAGE_CRAWLER__STORAGE__BACKEND: 's4' } })).to.throw(ConfigError, /storage.backend/);
    expect(() => loadConfig({ env: { IMAGE_CRAWLER__STORAGE__BACKEND: 's3' } })).to.throw(ConfigError, /storage.s3.bucket: backend s3 needs storage.s3.bucket/);
    expect(() => loadConfig({ file: yamlFile('storage:\n  backend: s3\n  s3:\n    bucket: My_Bucket\n'), env: {} })).to.throw(ConfigError, /storage.s3.bucket: an S3 bucket name/);
    expect(loadConfig({ file: yamlFile('storage:\n  backend: s3\n  s3:\n    bucket: crawl-images\n    prefix: a/b/\n'), env: {} }).storage.s3).to.include({ bucket: 'crawl-images', prefix: 'a/b/', region: 'us-east-1' });
  });

  it('reports unreadable and non-YAML files clearly', () => {
    expect(() => loadConfig({ file: '/nonexistent/config.yaml', env: {} })).to.throw(ConfigError, /cannot read config file/);
    expect(() => loadConfig({ file: yamlFile('a: [unclosed'), env: {} })).to.throw(ConfigError, /not valid YAML/);
    expect(() => loadConfig({ file: yamlFile('- a\n- b\n'), env: {} })).to.throw(ConfigError, /mapping/);
  });
});

describe('image-crawler.example.yaml', () => {
  it('is a valid configuration that states exactly the defaults', () => {
    const fromExample = loadConfig({ file: path.join(__dirname, '../../image-crawler.example.yaml'), env: {} });
    expect(fromExample).to.deep.equal(configSchema.parse({}));
  });

  it('names every key (optional ones in a comment)', () => {
    const text = fs.readFileSync(path.join(__dirname, '../../image-crawler.example.yaml'), 'utf8');
    const leaves = (o: Record<string, unknown>): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? leaves(v as Record<string, unknown>) : [k]));
    const missing = leaves(configSchema.parse({}) as unknown as Record<string, unknown>).filter((k) => !new RegExp(`\\b${k}:`).test(text));
    expect(missing).to.deep.equal([]);
  });
});
