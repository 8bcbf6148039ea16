/**
 * `srcset` parsing after the HTML standard's algorithm ("parse a srcset attribute"), so URLs
 * that contain commas (`img.jpg?w=1,h=2 2x`) are kept whole. Every candidate is returned:
 * a crawler wants all resolutions, not the one a particular screen would pick.
 */

export interface SrcsetCandidate {
  url: string;
  /** "2x", "640w", or "" when no descriptor was given. */
  descriptor: string;
}

const WS = /[\t\n\f\r ]/;

export function parseSrcset(input: string): SrcsetCandidate[] {
  const out: SrcsetCandidate[] = [];
  let pos = 0;
  const len = input.length;
  while (pos < len) {
    // Skip whitespace and separating commas.
    while (pos < len && (WS.test(input[pos]) || input[pos] === ',')) pos++;
    if (pos >= len) break;
    const urlStart = pos;
    while (pos < len && !WS.test(input[pos])) pos++;
    let url = input.slice(urlStart, pos);
    let descriptor = '';
    if (url.endsWith(',')) {
      // "a.jpg,b.jpg": a URL glued to the next candidate by a comma ends at the comma(s).
      url = url.replace(/,+$/, '');
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
    if (url) out.push({ url, descriptor });
  }
  return out;
}
