#!/usr/bin/env node
'use strict';
// libuv's default 4 threads are shared by file writes, fsync and sharp: too few for a crawler
// storing hundreds of files a second. Must be set before the pool is first used.
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
require('../dist/cli/main.js').main(process.argv.slice(2));
