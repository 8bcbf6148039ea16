/**
 * `srcset` parsing after the HTML standard's algorithm ("parse a srcset attribute"), so URLs
 * that contain commas (`img.jpg?w=1,h=2 2x`) are kept whole. Linear in the attribute's length.
 * `parseSrcset` returns every candidate: a crawler wants all resolutions, not the one a
 * particular screen would pick. `selectSrcsetCandidates` bounds that (a spider trap can write
 * thousands of candidates) to the ones browsers actually choose among.
 */

export interface SrcsetCandidate {
  url: string;
  /** "2x", "640w", or "" when no descriptor was given. */
  descriptor: string;
}

/** ASCII whitespace as the standard defines it: tab, LF, FF, CR, space. */
function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}
const COMMA = 0x2c;

export function parseSrcset(input: string): SrcsetCandidate[] {
  const out: SrcsetCandidate[] = [];
  let pos = 0;
  const len = input.length;
  while (pos < len) {
    // Skip whitespace and separating commas.
    while (pos < len && (isWs(input.charCodeAt(pos)) || input.charCodeAt(pos) === COMMA)) pos++;
    if (pos >= len) break;
    const urlStart = pos;
    while (pos < len && !isWs(input.charCodeAt(pos))) pos++;
    let urlEnd = pos;
    let descriptor = '';
    if (input.charCodeAt(urlEnd - 1) === COMMA) {
      // "a.jpg,b.jpg": a URL glued to the next candidate by a comma ends at the comma(s).
      // (A loop, not /,+$/: that regex is quadratic on a run of commas inside the URL.)
      while (urlEnd > urlStart && input.charCodeAt(urlEnd - 1) === COMMA) urlEnd--;
    } else {
      // Descriptors run to the next comma that is not inside parentheses.
      let inParens = false;
      const descStart = pos;
      while (pos < len) {
        const c = input[pos];
        if (c === '(') inParens = true;
        else if (c === ')') inParens = false;
        else if (c === ',' && !inParens) break;
        pos++;
      }
      descriptor = input.slice(descStart, pos).trim();
      pos++; // past the comma
    }
    if (urlEnd > urlStart) out.push({ url: input.slice(urlStart, urlEnd), descriptor });
  }
  return out;
}

export interface SrcsetSelection {
  /** The chosen candidates, in their order in the attribute. */
  kept: SrcsetCandidate[];
  /** Distinct URLs left out. */
  dropped: number;
}

/**
 * At most `max` candidates of one srcset, the ones a browser chooses among, in this order of
 * preference: the `1x` one (a candidate without descriptor is 1x), the `2x` one, the `w` ones
 * from the largest down, other densities from the highest down; last, what a browser ignores —
 * a later candidate repeating a descriptor, or an invalid descriptor. A URL listed twice counts
 * once. Pure; O(n log n).
 */
export function selectSrcsetCandidates(candidates: SrcsetCandidate[], max: number): SrcsetSelection {
  if (candidates.length <= max) return { kept: candidates, dropped: 0 };
  const ranked = candidates.map((c, index) => ({ c, index, ...rank(c.descriptor) }));
  // A later repeat of a descriptor is ignored by browsers ("1x" and "" are the same).
  const seenDescriptors = new Set<string>();
  for (const r of ranked) {
    if (r.tier === IGNORED) continue;
    if (seenDescriptors.has(r.key)) r.tier = IGNORED;
    else seenDescriptors.add(r.key);
  }
  ranked.sort((a, b) => a.tier - b.tier || b.size - a.size || a.index - b.index);
  const keep = Math.max(0, max);
  const chosen: typeof ranked = [];
  const seenUrls = new Set<string>();
  for (const r of ranked) {
    if (seenUrls.has(r.c.url)) continue;
    seenUrls.add(r.c.url);
    if (chosen.length < keep) chosen.push(r);
  }
  chosen.sort((a, b) => a.index - b.index);
  return { kept: chosen.map((r) => r.c), dropped: seenUrls.size - chosen.length };
}

const IGNORED = 4;

/** Preference tier (lower first), size within the tier (larger first), and a key for repeats. */
function rank(descriptor: string): { tier: number; size: number; key: string } {
  let w: number | undefined;
  let x: number | undefined;
  for (const token of descriptor.split(/[\t\n\f\r ]+/)) {
    if (token === '') continue;
    const unit = token[token.length - 1];
    const value = Number(token.slice(0, -1));
    if (unit === 'w' && w === undefined && /^\d+$/.test(token.slice(0, -1)) && value > 0) w = value;
    else if (unit === 'x' && x === undefined && token.length > 1 && Number.isFinite(value) && value > 0) x = value;
    else if (unit === 'h' && /^\d+$/.test(token.slice(0, -1))) continue;
    else return { tier: IGNORED, size: 0, key: '' };
  }
  if (w !== undefined && x !== undefined) return { tier: IGNORED, size: 0, key: '' };
  if (w !== undefined) return { tier: 2, size: w, key: `${w}w` };
  const density = x ?? 1;
  if (density === 1) return { tier: 0, size: 1, key: '1x' };
  if (density === 2) return { tier: 1, size: 2, key: '2x' };
  return { tier: 3, size: density, key: `${density}x` };
}
