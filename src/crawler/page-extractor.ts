import { html as html5, Parser, type Token, type TreeAdapter, type TreeAdapterTypeMap } from 'parse5';
import { extractCssUrls } from './css-urls';
import { parseSrcset, selectSrcsetCandidates } from './srcset';
import { resolveUrl } from './url-normalizer';

/**
 * Finds every image a browser would request for a page, including the lazy ones it would
 * request on scroll, plus the links a crawler follows. Pure: HTML text in, absolute
 * normalised URLs out.
 *
 * The HTML is parsed as a browser parses it — the HTML standard's tokenizer and tree
 * construction (parse5) — because hostile or broken markup decides what is discovered: raw
 * text and RCDATA elements (`<title>`, `<textarea>`, `<xmp>`, `<iframe>`, …) and their end
 * tags, comments ended by `--!>`, `<select>` dropping what it cannot hold, HTML elements
 * breaking out of `<svg>`/`<math>`, implied end tags, a tag cut at end of file. A streaming
 * tokenizer with depth counters got these wrong (an image after `<select><title>` was lost).
 * The tree is a light one (elements and `<style>` text only), walked once afterwards.
 *
 * Deliberate departures from a script-running browser: `<noscript>` content is markup (the
 * document is parsed with scripting disabled; lazy-load fallbacks live there), and `<template>`
 * contents are walked (scripts stamp them out). `<base>` inside a template does not count.
 * Formatting elements the page closed early are re-created (as the standard says) only up to
 * `MAX_RECONSTRUCTED_ELEMENTS` per page: see `BoundedParser`.
 *
 * Bounded work per page: srcset candidates per attribute and links per page are capped, and
 * what was left out is counted in `dropped`.
 */

/** Where an image reference was found; stored with the image for diagnostics. */
export type ImageSource =
  | 'img'
  | 'srcset'
  | 'picture'
  | 'lazy'
  | 'css'
  | 'poster'
  | 'input'
  | 'svg'
  | 'preload'
  | 'icon'
  | 'meta'
  | 'background-attr'
  | 'object'
  | 'link';

export interface ExtractedImage {
  url: string;
  via: ImageSource;
}

export interface PageExtraction {
  images: ExtractedImage[];
  /**
   * Pages to follow: `<a>`, `<area>`, `<iframe>`/`<frame>`, meta refresh, in document order,
   * at most `maxLinksPerPage`. Links that plainly name an image file (`<a href="full.jpg">`)
   * are reported as images (via "link") instead.
   */
  links: string[];
  /** External stylesheets (`<link rel=stylesheet>`): their url() images load with the page. */
  stylesheets: string[];
  /** The document base URL (`<base href>` or the page URL). */
  baseUrl: string;
  /** What the per-page bounds left out. */
  dropped: {
    /** srcset candidates beyond `maxSrcsetCandidates` (distinct URLs), summed over the page. */
    srcsetCandidates: number;
    /** Distinct page links beyond `maxLinksPerPage`. */
    links: number;
  };
}

export interface ExtractOptions {
  /** favicons and touch icons. Default true. */
  includeIcons?: boolean;
  /** og:image, twitter:image, itemprop=image. Default true. */
  includeMetaImages?: boolean;
  /** Longer URLs are dropped (spider-trap guard). Default 2048. */
  maxUrlLength?: number;
  /**
   * Candidates kept per srcset-like attribute: the ones a browser chooses among (1x, 2x, the
   * largest w) — see `selectSrcsetCandidates`. Default 8.
   */
  maxSrcsetCandidates?: number;
  /** Distinct links kept per page, the first in document order. Default 1000. */
  maxLinksPerPage?: number;
}

/** Lazy-loading attributes holding one URL (lazysizes, lozad, WP Rocket, jQuery lazyload, echo.js, …). */
const LAZY_SRC_ATTRS = [
  'data-src',
  'data-lazy-src',
  'data-lazy',
  'data-original',
  'data-echo',
  'data-lazyload',
  'data-hi-res-src',
  'data-src-retina',
  'data-retina',
  'data-full-src',
  'data-large_image',
  'data-zoom-image',
  'data-flickity-lazyload',
];
/** Lazy-loading attributes holding a srcset. */
const LAZY_SRCSET_ATTRS = ['data-srcset', 'data-lazy-srcset', 'data-original-set'];
/** Background-image attributes used on any element by lazy loaders and parallax scripts. */
const BACKGROUND_ATTRS = ['data-bg', 'data-background', 'data-background-image', 'data-bg-src', 'data-image-src'];
/** Legacy presentational `background` attribute (still honoured by browsers). */
const LEGACY_BACKGROUND_TAGS = new Set(['body', 'table', 'td', 'th', 'tr']);
const ICON_RELS = new Set(['icon', 'shortcut', 'apple-touch-icon', 'apple-touch-icon-precomposed', 'mask-icon', 'fluid-icon']);
const META_IMAGE_KEYS = new Set(['og:image', 'og:image:url', 'og:image:secure_url', 'twitter:image', 'twitter:image:src']);
const IMAGE_EXTENSION = /\.(avif|bmp|gif|ico|jpe?g|jfif|png|svg|tiff?|webp|heic)(?:$|[?#])/i;

/** Attribute names any rule reads; an element without one of them costs no allocation. */
const INTERESTING_ATTRS = new Set([
  ...LAZY_SRC_ATTRS,
  ...LAZY_SRCSET_ATTRS,
  ...BACKGROUND_ATTRS,
  'src',
  'srcset',
  'href',
  'xlink:href',
  'style',
  'background',
  'poster',
  'type',
  'data',
  'rel',
  'as',
  'imagesrcset',
  'property',
  'name',
  'itemprop',
  'content',
  'http-equiv',
]);

const NS_HTML: string = html5.NS.HTML;
const NS_SVG: string = html5.NS.SVG;

type Attrs = Record<string, string>;

export function extractPage(html: string, pageUrl: string, opts: ExtractOptions = {}): PageExtraction {
  const includeIcons = opts.includeIcons ?? true;
  const includeMeta = opts.includeMetaImages ?? true;
  const maxLen = opts.maxUrlLength ?? 2048;
  const maxSrcset = opts.maxSrcsetCandidates ?? 8;
  const maxLinks = opts.maxLinksPerPage ?? 1000;

  const rawImages: { raw: string; via: ImageSource }[] = [];
  const rawLinks: string[] = [];
  const rawSheets: string[] = [];
  let baseHref: string | undefined;
  let droppedSrcset = 0;

  const addImage = (raw: string | undefined, via: ImageSource) => {
    if (raw) rawImages.push({ raw, via });
  };
  const addSrcset = (value: string | undefined, via: ImageSource) => {
    if (!value) return;
    const { kept, dropped } = selectSrcsetCandidates(parseSrcset(value), maxSrcset);
    droppedSrcset += dropped;
    for (const c of kept) rawImages.push({ raw: c.url, via });
  };
  const addCss = (css: string | undefined) => {
    if (css) for (const u of extractCssUrls(css)) rawImages.push({ raw: u, via: 'css' });
  };
  /** A background attribute holds a bare URL or a CSS `url(...)`. */
  const addBackground = (value: string | undefined) => {
    if (!value) return;
    if (/url\(/i.test(value)) addCss(value);
    else addImage(value, 'background-attr');
  };
  const onImageElement = (a: Attrs, via: ImageSource) => {
    addImage(a.src, via);
    addSrcset(a.srcset, 'srcset');
    for (const name of LAZY_SRC_ATTRS) addImage(a[name], 'lazy');
    for (const name of LAZY_SRCSET_ATTRS) addSrcset(a[name], 'lazy');
  };

  function onHtmlElement(el: LightElement, a: Attrs, inTemplate: boolean) {
    switch (el.tag) {
      case 'base':
        // The first <base href> in the document; template contents are not in the document.
        if (baseHref === undefined && a.href !== undefined && !inTemplate) baseHref = a.href;
        break;
      case 'img':
        // The parser has already turned an HTML <image> into <img>.
        onImageElement(a, 'img');
        break;
      case 'source':
        // <source srcset> is an image candidate when its parent is a <picture>; in <video> it is not.
        if (el.parent?.tag === 'picture' && el.parent.ns === NS_HTML) {
          addSrcset(a.srcset, 'picture');
          for (const n of LAZY_SRCSET_ATTRS) addSrcset(a[n], 'lazy');
          for (const n of LAZY_SRC_ATTRS) addImage(a[n], 'lazy');
        }
        break;
      case 'video':
        addImage(a.poster, 'poster');
        break;
      case 'input':
        if ((a.type ?? '').toLowerCase() === 'image') addImage(a.src, 'input');
        break;
      case 'object':
        if (isImageRef(a.data, a.type)) addImage(a.data, 'object');
        break;
      case 'embed':
        if (isImageRef(a.src, a.type)) addImage(a.src, 'object');
        break;
      case 'link':
        onLink(a);
        break;
      case 'meta':
        onMeta(a);
        break;
      case 'a':
      case 'area':
        if (a.href !== undefined) rawLinks.push(a.href);
        break;
      case 'iframe':
      case 'frame':
        if (a.src !== undefined) rawLinks.push(a.src);
        break;
    }
    if (a.background && LEGACY_BACKGROUND_TAGS.has(el.tag)) addImage(a.background, 'background-attr');
  }

  function onSvgElement(el: LightElement, a: Attrs) {
    // SVG 2: href wins over xlink:href.
    if (el.tag === 'image') addImage(a.href ?? a['xlink:href'], 'svg');
    else if (el.tag === 'a') {
      const href = a.href ?? a['xlink:href'];
      if (href !== undefined) rawLinks.push(href);
    }
  }

  function onLink(a: Attrs) {
    const rels = (a.rel ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    if (rels.includes('stylesheet') && a.href) rawSheets.push(a.href);
    if (rels.includes('preload') && (a.as ?? '').toLowerCase() === 'image') {
      addImage(a.href, 'preload');
      addSrcset(a.imagesrcset, 'preload');
    }
    if (includeIcons && rels.some((r) => ICON_RELS.has(r))) addImage(a.href, 'icon');
    if (includeMeta && rels.includes('image_src')) addImage(a.href, 'meta');
  }

  function onMeta(a: Attrs) {
    const key = (a.property ?? a.name ?? '').toLowerCase();
    if (includeMeta && (META_IMAGE_KEYS.has(key) || (a.itemprop ?? '').toLowerCase() === 'image')) {
      addImage(a.content, 'meta');
    }
    if ((a['http-equiv'] ?? '').toLowerCase() === 'refresh' && a.content) {
      const m = /url\s*=\s*['"]?([^'"]+)/i.exec(a.content);
      if (m) rawLinks.push(m[1]);
    }
  }

  // Walk the tree in document order (iteratively: nesting depth is the page author's choice).
  const doc = parseLightDocument(html);
  const stack: LightElement[] = [doc];
  const inTemplateStack: boolean[] = [false];
  while (stack.length > 0) {
    const el = stack.pop()!;
    const inTemplate = inTemplateStack.pop()!;
    const a = interestingAttrs(el.attrs);
    if (el.ns === NS_HTML) {
      if (a) onHtmlElement(el, a, inTemplate);
    } else if (el.ns === NS_SVG) {
      if (a) onSvgElement(el, a);
    }
    if (el.styleText !== null) addCss(el.styleText);
    if (a) {
      if (a.style) addCss(a.style);
      for (const n of BACKGROUND_ATTRS) addBackground(a[n]);
      // Lazy loaders also put data-src on <div>s; take it when it plainly names an image.
      const dataSrc = a['data-src'];
      if (dataSrc && el.tag !== 'img' && el.tag !== 'source' && el.tag !== 'iframe' && el.tag !== 'script' && IMAGE_EXTENSION.test(dataSrc)) {
        addImage(dataSrc, 'lazy');
      }
    }
    for (let kid = el.lastChild; kid !== null; kid = kid.prev) {
      stack.push(kid);
      inTemplateStack.push(inTemplate);
    }
    if (el.content) {
      // Template contents come after the template's (always empty) child list.
      stack.push(el.content);
      inTemplateStack.push(true);
    }
  }

  // The first <base href> sets the base for the whole document, even for elements before it.
  const baseUrl = (baseHref !== undefined && resolveUrl(baseHref, pageUrl)) || pageUrl;
  const resolve = (raw: string) => {
    const url = resolveUrl(raw, baseUrl);
    return url !== null && url.length <= maxLen ? url : null;
  };

  const images: ExtractedImage[] = [];
  const seenImages = new Set<string>();
  for (const { raw, via } of rawImages) {
    const url = resolve(raw);
    if (url && !seenImages.has(url)) {
      seenImages.add(url);
      images.push({ url, via });
    }
  }
  const links: string[] = [];
  const seenLinks = new Set<string>();
  const seenRawLinks = new Set<string>();
  let droppedLinks = 0;
  for (const raw of rawLinks) {
    if (seenRawLinks.has(raw)) continue;
    seenRawLinks.add(raw);
    const url = resolve(raw);
    if (!url || seenLinks.has(url)) continue;
    seenLinks.add(url);
    if (!IMAGE_EXTENSION.test(new URL(url).pathname)) {
      if (links.length < maxLinks) links.push(url);
      else droppedLinks++;
    } else if (!seenImages.has(url)) {
      seenImages.add(url);
      images.push({ url, via: 'link' });
    }
  }
  return {
    images,
    links,
    stylesheets: uniqueResolved(rawSheets, resolve),
    baseUrl,
    dropped: { srcsetCandidates: droppedSrcset, links: droppedLinks },
  };
}

/** The attributes the rules read, by name (`xlink:href` for SVG's namespaced one); null when none. */
function interestingAttrs(attrs: Token.Attribute[]): Attrs | null {
  let out: Attrs | null = null;
  for (const at of attrs) {
    const name = at.prefix ? `${at.prefix}:${at.name}` : at.name;
    if (!INTERESTING_ATTRS.has(name)) continue;
    out ??= {};
    // The tokenizer already dropped duplicates (the first wins, as in browsers).
    out[name] = at.value;
  }
  return out;
}

function uniqueResolved(raws: string[], resolve: (raw: string) => string | null): string[] {
  const out = new Set<string>();
  for (const raw of raws) {
    const url = resolve(raw);
    if (url) out.add(url);
  }
  return [...out];
}

function isImageRef(url: string | undefined, type: string | undefined): boolean {
  if (!url) return false;
  if (type) return type.toLowerCase().startsWith('image/');
  return IMAGE_EXTENSION.test(url);
}

// ---------------------------------------------------------------------------------------------
// A light tree for parse5: elements with their attributes, children and parent, and the text of
// <style> elements; text, comments and doctypes are not kept. The parser only reads back tag
// names, namespaces, attributes, parents, children and template contents, so the tree it builds
// is the standard's, minus the nodes discovery never looks at.

export interface LightElement {
  tag: string;
  ns: string;
  attrs: Token.Attribute[];
  parent: LightElement | null;
  /** Children as a doubly linked list: no array per element (a 10 MB page holds millions). */
  firstChild: LightElement | null;
  lastChild: LightElement | null;
  prev: LightElement | null;
  next: LightElement | null;
  /** A template's contents (a document fragment). */
  content: LightElement | null;
  /** Text of a `<style>` (HTML or SVG), else null. */
  styleText: string | null;
  /** The document's quirks mode (the document node only). */
  mode?: html5.DOCUMENT_MODE;
}

type LightMap = TreeAdapterTypeMap<
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement,
  LightElement
>;

function node(tag: string, ns: string, attrs: Token.Attribute[]): LightElement {
  return {
    tag,
    ns,
    attrs,
    parent: null,
    firstChild: null,
    lastChild: null,
    prev: null,
    next: null,
    content: null,
    styleText: tag === 'style' ? '' : null,
  };
}

/**
 * Formatting elements (`<b>`, `<a>`, `<font>`, …) re-created per page by the standard's
 * "reconstruct the active formatting elements". A page that opens many distinct ones and then
 * closes them early (`</div>` pops them) makes every later piece of text re-open clones of all
 * of them: 2,000 `<b id=…>` and 2,000 `<div>x</div>` (47 KB) built 4 million elements, 7.8 s
 * and 1.4 GB of heap. A clone has its original's tag and attributes, so it holds no URL the
 * original did not; past the budget the crawler stops cloning (the entries leave the list, as
 * they would after `</b>`) and loses nothing it looks for. Ordinary pages re-create a handful.
 */
export const MAX_RECONSTRUCTED_ELEMENTS = 10_000;

class BoundedParser extends Parser<LightMap> {
  private reconstructed = 0;

  override _reconstructActiveFormattingElements(): void {
    // The entries the standard would re-open: the newest ones not on the stack, back to a marker.
    const pending = [];
    for (let e = this.activeFormattingElements.newest; e !== null && 'element' in e && !this.openElements.contains(e.element); e = e.older) {
      pending.push(e);
    }
    if (pending.length === 0) return;
    if (this.reconstructed + pending.length > MAX_RECONSTRUCTED_ELEMENTS) {
      for (const e of pending) this.activeFormattingElements.removeEntry(e);
      return;
    }
    this.reconstructed += pending.length;
    super._reconstructActiveFormattingElements();
  }
}

/** The page's element tree as a browser builds it (scripting off), light: see `LightElement`. */
export function parseLightDocument(html: string): LightElement {
  return BoundedParser.parse<LightMap>(html, { treeAdapter: lightTreeAdapter, scriptingEnabled: false });
}

/** An element's children, in order (a new array: the tree keeps a linked list). */
export function childrenOf(el: LightElement): LightElement[] {
  const out: LightElement[] = [];
  for (let kid = el.firstChild; kid !== null; kid = kid.next) out.push(kid);
  return out;
}

/** Comments, text nodes and doctypes: never attached. */
const DISCARDED: LightElement = node('#discarded', '', []);

function detach(child: LightElement): void {
  const parent = child.parent;
  if (!parent) return;
  if (child.prev) child.prev.next = child.next;
  else parent.firstChild = child.next;
  if (child.next) child.next.prev = child.prev;
  else parent.lastChild = child.prev;
  child.parent = child.prev = child.next = null;
}

const lightTreeAdapter: TreeAdapter<LightMap> = {
  createDocument: () => node('#document', '', []),
  createDocumentFragment: () => node('#fragment', '', []),
  createElement: (tagName, namespaceURI, attrs) => node(tagName, namespaceURI, attrs),
  createCommentNode: () => DISCARDED,
  createTextNode: () => DISCARDED,
  appendChild(parent, child) {
    if (child === DISCARDED) return;
    child.parent = parent;
    child.prev = parent.lastChild;
    child.next = null;
    if (parent.lastChild) parent.lastChild.next = child;
    else parent.firstChild = child;
    parent.lastChild = child;
  },
  insertBefore(parent, child, reference) {
    if (child === DISCARDED) return;
    if (reference.parent !== parent) return lightTreeAdapter.appendChild(parent, child);
    child.parent = parent;
    child.next = reference;
    child.prev = reference.prev;
    if (reference.prev) reference.prev.next = child;
    else parent.firstChild = child;
    reference.prev = child;
  },
  setTemplateContent(template, content) {
    template.content = content;
  },
  getTemplateContent: (template) => template.content!,
  setDocumentType() {},
  setDocumentMode(document, mode) {
    document.mode = mode;
  },
  getDocumentMode: (document) => document.mode ?? html5.DOCUMENT_MODE.NO_QUIRKS,
  detachNode: detach,
  insertText(parent, text) {
    if (parent.styleText !== null) parent.styleText += text;
  },
  insertTextBefore(parent, text) {
    // Foster-parented text (before a table); a <style> never receives it this way.
    if (parent.styleText !== null) parent.styleText += text;
  },
  adoptAttributes(recipient, attrs) {
    // A second <html> or <body> tag adds the attributes the element does not have yet.
    const names = new Set(recipient.attrs.map((a) => a.name));
    for (const a of attrs) if (!names.has(a.name)) recipient.attrs.push(a);
  },
  getFirstChild: (n) => n.firstChild,
  getChildNodes: childrenOf,
  getParentNode: (n) => n.parent,
  getAttrList: (el) => el.attrs,
  getTagName: (el) => el.tag,
  getNamespaceURI: (el) => el.ns as html5.NS,
  getTextNodeContent: () => '',
  getCommentNodeContent: () => '',
  getDocumentTypeNodeName: () => '',
  getDocumentTypeNodePublicId: () => '',
  getDocumentTypeNodeSystemId: () => '',
  isTextNode: (_n): _n is LightElement => false,
  isCommentNode: (_n): _n is LightElement => false,
  isDocumentTypeNode: (_n): _n is LightElement => false,
  isElementNode: (n): n is LightElement => n.ns !== '',
  setNodeSourceCodeLocation() {},
  getNodeSourceCodeLocation: () => undefined,
  updateNodeSourceCodeLocation() {},
};
