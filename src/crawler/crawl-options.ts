import { z } from 'zod';
import type { CrawlerConfig } from '../config/config-schema';
import { invalidPattern } from './url-pattern';
import type { NetPolicyOptions } from './net-policy';
import { normalizeUrl } from './url-normalizer';

/**
 * What a user asks for when starting a crawl (API body, CLI flags), validated, and the resolved
 * per-session options stored with the session. The network policy (private addresses) is not
 * here on purpose: it belongs to the operator's configuration, never to an API caller.
 */

const patternList = z
  .array(z.string().max(500))
  .max(50)
  .superRefine((patterns, ctx) => {
    const bad = invalidPattern(patterns);
    if (bad) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid regular expression ${bad}` });
  });

export const crawlRequestSchema = z
  .object({
    /** Start URLs (http or https). */
    urls: z
      .array(z.string())
      .min(1, 'give at least one start URL')
      .max(1000)
      .superRefine((urls, ctx) => {
        urls.forEach((u, i) => {
          if (!normalizeUrl(u)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i], message: `"${u}" is not an http(s) URL` });
        });
      }),
    maxPages: z.number().int().positive().max(100_000_000).optional(),
    maxDepth: z.number().int().nonnegative().max(10_000).optional(),
    /** External stylesheets the session may fetch in all (each `@import` too). Default crawler.max_stylesheets. */
    maxStylesheets: z.number().int().positive().max(1_000_000).optional(),
    include: patternList.optional(),
    exclude: patternList.optional(),
    /** Follow links to other hosts too. Default false (same host as the start URLs). */
    followExternal: z.boolean().optional(),
    respectRobots: z.boolean().optional(),
    includeIcons: z.boolean().optional(),
    includeMetaImages: z.boolean().optional(),
    /** Download images referenced by external stylesheets. Default true. */
    fetchStylesheets: z.boolean().optional(),
    politenessDelayMs: z.number().int().nonnegative().max(60_000).optional(),
    /** A re-crawl: the session whose stored images are asked about with If-None-Match / If-Modified-Since (304 = kept, not downloaded). */
    since: z.string().uuid('a session id').optional(),
    /** Load each page in headless Chromium too (the render plugin): images and links made by scripts and lazy loading. */
    render: z.boolean().optional(),
  })
  .strict();

export type CrawlRequest = z.infer<typeof crawlRequestSchema>;

export interface SessionOptions {
  startUrls: string[];
  maxPages: number;
  maxDepth: number;
  /** Stylesheets the session may fetch; absent in sessions recorded before it existed (no limit). */
  maxStylesheets?: number;
  include: string[];
  exclude: string[];
  followExternal: boolean;
  respectRobots: boolean;
  includeIcons: boolean;
  includeMetaImages: boolean;
  fetchStylesheets: boolean;
  politenessDelayMs: number;
  maxUrlLength: number;
  /**
   * The network policy of the operator who started the session (the CLI's flags, or the API
   * process's configuration — never an API caller's), applied by every worker that runs the
   * session's jobs. Absent in sessions recorded before it existed: each worker's own then.
   */
  network?: NetPolicyOptions;
  /** A re-crawl: the earlier session whose stored images are revalidated (If-None-Match / If-Modified-Since). */
  since?: string;
  /** Pages are loaded in a browser too (absent: false). */
  render?: boolean;
}

export function resolveSessionOptions(req: CrawlRequest, defaults: CrawlerConfig): SessionOptions {
  return {
    startUrls: [...new Set(req.urls.map((u) => normalizeUrl(u) as string))],
    maxPages: req.maxPages ?? defaults.max_pages,
    maxDepth: req.maxDepth ?? defaults.max_depth,
    maxStylesheets: req.maxStylesheets ?? defaults.max_stylesheets,
    include: req.include ?? [],
    exclude: req.exclude ?? [],
    followExternal: req.followExternal ?? false,
    respectRobots: req.respectRobots ?? defaults.respect_robots,
    includeIcons: req.includeIcons ?? defaults.include_icons,
    includeMetaImages: req.includeMetaImages ?? defaults.include_meta_images,
    fetchStylesheets: req.fetchStylesheets ?? true,
    politenessDelayMs: req.politenessDelayMs ?? defaults.politeness_delay_ms,
    maxUrlLength: defaults.max_url_length,
    network: { allowPrivate: defaults.allow_private, allowNets: defaults.allow_nets },
    ...(req.since ? { since: req.since } : {}),
    ...(req.render ? { render: true } : {}),
  };
}
