import { Parser } from 'htmlparser2';
import { extractCssUrls } from './css-urls';
import { parseSrcset } from './srcset';
import { resolveUrl } from './url-normalizer';

/**
 * Finds every image a browser would request for a page, including the lazy ones it would
 * request on scroll, plus the links a crawler follows. Pure: HTML text in, absolute
 * normalised URLs out. Streaming htmlparser2 callbacks, no DOM: fast and tolerant of broken
 * markup (unclosed tags, uppercase names, entities — the parser decodes them).
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
   * Pages to follow: `<a>`, `<area>`, `<iframe>`/`<frame>`, meta refresh. Links that plainly
   * name an image file (`<a href="full.jpg">`) are reported as images (via "link") instead.
   */
  links: string[];
  /** External stylesheets (`<link rel=stylesheet>`): their url() images load with the page. */
  stylesheets: string[];
  /** The document base URL (`<base href>` or the page URL). */
  baseUrl: string;
}

export interface ExtractOptions {
  /** favicons and touch icons. Default true. */
  includeIcons?: boolean;
  /** og:image, twitter:image, itemprop=image. Default true. */
  includeMetaImages?: boolean;
  /** Longer URLs are dropped (spider-trap guard). Default 2048. */
  maxUrlLength?: number;
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

type Attrs = Record<string, string>;

export function extractPage(html: string, pageUrl: string, opts: ExtractOptions = {}): PageExtraction {
  const includeIcons = opts.includeIcons ?? true;
  const includeMeta = opts.includeMetaImages ?? true;
  const maxLen = opts.maxUrlLength ?? 2048;

  const rawImages: { raw: string; via: ImageSource }[] = [];
  const rawLinks: string[] = [];
  const rawSheets: string[] = [];
  let baseHref: string | undefined;
  let pictureDepth = 0;
  let svgDepth = 0;
  let styleText: string[] | null = null;

  const addImage = (raw: string | undefined, via: ImageSource) => {
    if (raw) rawImages.push({ raw, via });
  };
  const addSrcset = (value: string | undefined, via: ImageSource) => {
    if (value) for (const c of parseSrcset(value)) rawImages.push({ raw: c.url, via });
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

  const parser = new Parser(
    {
      onopentag(name, a) {
        switch (name) {
          case 'base':
            if (baseHref === undefined && a.href !== undefined) baseHref = a.href;
            break;
          case 'img':
            onImageElement(a, 'img');
            break;
          case 'picture':
            pictureDepth++;
            break;
          case 'source':
            // <source srcset> is an image candidate inside <picture>; <source src> in <video> is not.
            if (pictureDepth > 0) {
              addSrcset(a.srcset, 'picture');
              for (const n of LAZY_SRCSET_ATTRS) addSrcset(a[n], 'lazy');
              for (const n of LAZY_SRC_ATTRS) addImage(a[n], 'lazy');
            }
            break;
          case 'svg':
            svgDepth++;
            break;
          case 'image':
            // SVG <image href | xlink:href>; outside SVG the HTML parser turns <image> into <img>.
            if (svgDepth > 0) addImage(a.href ?? a['xlink:href'], 'svg');
            else onImageElement(a, 'img');
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
          case 'style':
            styleText = [];
            break;
        }
        if (a.style) addCss(a.style);
        for (const n of BACKGROUND_ATTRS) addBackground(a[n]);
        if (a.background && LEGACY_BACKGROUND_TAGS.has(name)) addImage(a.background, 'background-attr');
        // Lazy loaders also put data-src on <div>s; take it when it plainly names an image.
        if (name !== 'img' && name !== 'source' && name !== 'iframe' && name !== 'script' && a['data-src'] && IMAGE_EXTENSION.test(a['data-src'])) {
          addImage(a['data-src'], 'lazy');
        }
      },
      ontext(text) {
        if (styleText) styleText.push(text);
      },
      onclosetag(name) {
        if (name === 'picture' && pictureDepth > 0) pictureDepth--;
        else if (name === 'svg' && svgDepth > 0) svgDepth--;
        else if (name === 'style' && styleText) {
          addCss(styleText.join(''));
          styleText = null;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );

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

  parser.write(html);
  parser.end();

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
  for (const url of uniqueResolved(rawLinks, resolve)) {
    if (!IMAGE_EXTENSION.test(new URL(url).pathname)) links.push(url);
    else if (!seenImages.has(url)) {
      seenImages.add(url);
      images.push({ url, via: 'link' });
    }
  }
  return { images, links, stylesheets: uniqueResolved(rawSheets, resolve), baseUrl };
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
