/**
 * The part of @csstools/css-tokenizer that css-urls.ts uses. The package is ESM-only and ships
 * its types behind `exports`, which this project's `moduleResolution: node` (CommonJS output)
 * cannot see; Node 20.19+ loads it with require(). Token layout: [type, source text, start, end,
 * data] (see the package's index.d.ts).
 */
declare module '@csstools/css-tokenizer' {
  export enum TokenType {
    Comment = 'comment',
    AtKeyword = 'at-keyword-token',
    BadString = 'bad-string-token',
    BadURL = 'bad-url-token',
    CDC = 'CDC-token',
    CDO = 'CDO-token',
    Colon = 'colon-token',
    Comma = 'comma-token',
    Delim = 'delim-token',
    Dimension = 'dimension-token',
    EOF = 'EOF-token',
    Function = 'function-token',
    Hash = 'hash-token',
    Ident = 'ident-token',
    Number = 'number-token',
    Percentage = 'percentage-token',
    Semicolon = 'semicolon-token',
    String = 'string-token',
    URL = 'url-token',
    Whitespace = 'whitespace-token',
    OpenParen = '(-token',
    CloseParen = ')-token',
    OpenSquare = '[-token',
    CloseSquare = ']-token',
    OpenCurly = '{-token',
    CloseCurly = '}-token',
    UnicodeRange = 'unicode-range-token',
  }
  export type CSSToken = [TokenType, string, number, number, { value?: unknown } & Record<string, unknown>];
  export function tokenizer(input: { css: { valueOf(): string } }): { nextToken: () => CSSToken; endOfFile: () => boolean };
}
