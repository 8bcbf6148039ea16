#!/usr/bin/env -S node --max-old-space-size=1024
'use strict';
// The heap limit is not the point (live heap is ~30 MB): V8 lets the heap grow up to 4× its live
// size between major collections when the limit is ≥ 2 GB (the default on most hosts), and at
// most ~1.6× under 1 GB. A 10,000-page crawl peaked at 451 MB RSS without it, 273 MB with it
// (README, Benchmark). The Procfile runs this file directly, so its processes get the flag too.
//
// libuv's default 4 threads are shared by file writes, fsync and sharp: too few for a crawler
// storing hundreds of files a second. Must be set before the pool is first used.
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
require('../dist/cli/main.js').main(process.argv.slice(2));
