import { posix, win32 } from 'node:path';

/**
 * How one upstream spells what it is given: safe mode compares identifiers in the form the
 * server will resolve them to, not in a form of the hub's choosing. Where one string can mean
 * several things to the server (a relative path, a remote server's separators), it is judged as
 * each of them; where the hub cannot put it in any certain form, it is not judged at all but
 * refused, with the reason.
 */
export type Spelling = {
  /** `posix`: `\` is an ordinary character. `windows`: `\` and `/` separate. `unknown` (a remote server): both readings. */
  platform: 'posix' | 'windows' | 'unknown';
  /** Paths that differ only in letter case are the same file (macOS and Windows by default). */
  caseInsensitivePaths: boolean;
  /**
   * Absolute folders a relative path may be resolved against: the upstream's roots, the folders
   * its command line names, its working and instance directories. Empty: a relative path is refused.
   */
  bases: readonly string[];
  /** What `~` expands to on the server; unset: a path starting with `~` is refused. */
  home?: string;
};

/** The hub's own platform, for an upstream it starts itself. */
export function localSpelling(bases: readonly string[], home: string | undefined): Spelling {
  const windows = process.platform === 'win32';
  return { platform: windows ? 'windows' : 'posix', caseInsensitivePaths: windows || process.platform === 'darwin', bases, ...(home ? { home } : {}) };
}

/** Kinds of identifier safe mode tells apart. */
export type IdentifierKind = 'id' | 'name' | 'path' | 'uri';

/** One form an identifier may take on the server: a path's candidates, a `file:` URI as a path. */
export type CanonicalForm = { kind: IdentifierKind; canonical: string };

/** Every form the server may read the value as, or why safe mode cannot judge it. */
export type Judged = { forms: CanonicalForm[] } | { unjudgeable: string };

/** Longest identifier judged, in UTF-8 bytes: Linux paths stop at 4,096; a longer value is no sane identifier. */
export const maxIdentifierBytes = 4096;

/** C0 and C1 controls and DEL: no identifier a person reads has them, and logs and forms would mangle them. */
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/;

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A GUID with optional separators between its groups, not part of a longer run of hex digits. */
export const guidPattern = /(?<![0-9a-f])[0-9a-f]{8}(?:[-\s]*[0-9a-f]{4}){3}[-\s]*[0-9a-f]{12}(?![0-9a-f])/gi;
const guidWhole = new RegExp(`^${guidPattern.source}$`, 'i');

/** The form ids are compared in: a GUID lower-cased without separators; anything else trimmed, NFC. */
export function canonicalId(id: string): string {
  const trimmed = id.normalize('NFC').trim();
  return guidWhole.test(trimmed) ? trimmed.toLowerCase().replace(/[-\s]/g, '') : trimmed;
}

/** Why a value is no identifier safe mode can judge, if it is not one. */
function unfitValue(value: string): string | undefined {
  if (Buffer.byteLength(value, 'utf8') > maxIdentifierBytes) return `it is longer than ${maxIdentifierBytes} bytes, which no identifier is`;
  if (controlCharacters.test(value)) return 'it holds a control character';
  if (loneSurrogate.test(value)) return 'it holds a lone surrogate, which is no Unicode text';
  return undefined;
}

/**
 * Every form in which the server may read `value` given in a slot of `kind`. Names and ids are
 * compared exactly (NFC, and GUIDs however spelled); paths and `file:` URIs as the paths the
 * server resolves them to; other URIs with their scheme and host lower-cased and path resolved.
 */
export function judgeIdentifier(kind: IdentifierKind, value: string, spelling: Spelling): Judged {
  const unfit = unfitValue(value);
  if (unfit) return { unjudgeable: unfit };
  const text = value.normalize('NFC');
  if (kind === 'name') return { forms: [{ kind, canonical: text }] };
  if (kind === 'id') return { forms: [{ kind, canonical: canonicalId(text) }] };
  if (kind === 'uri') return judgeUri(text, spelling);
  return judgePath(text, spelling);
}

function judgeUri(text: string, spelling: Spelling): Judged {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    // Not a URI at all: the server may well read it as a path.
    return judgePath(text, spelling);
  }
  if (url.protocol === 'file:') {
    // `file://localhost/x` is `file:///x`; any other host is a share the hub cannot see into.
    if (url.host !== '' && url.host.toLowerCase() !== 'localhost') return { unjudgeable: `the file URI names host '${url.host}', whose files safe mode cannot place` };
    // An encoded separator is one segment to some servers and two to others.
    if (/%(?:2f|5c)/i.test(url.pathname)) return { unjudgeable: 'its path holds an encoded separator (%2F or %5C)' };
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return { unjudgeable: 'its percent-encoding is broken' };
    }
    // `file:///C:/x` is `C:/x` on Windows.
    if (spelling.platform !== 'posix' && /^\/[A-Za-z]:\//.test(path)) path = path.slice(1);
    const unfit = unfitValue(path);
    return unfit ? { unjudgeable: `its path: ${unfit}` } : judgePath(path.normalize('NFC'), spelling);
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return { unjudgeable: 'its percent-encoding is broken' };
  }
  const resolved = posix.normalize(path.normalize('NFC'));
  const trimmed = resolved.length > 1 && resolved.endsWith('/') ? resolved.slice(0, -1) : resolved;
  return { forms: [{ kind: 'uri', canonical: `${url.protocol}//${url.host}${trimmed === '/' ? '' : trimmed}${url.search}` }] };
}

/**
 * A path as the server resolves it: relative against each base, `~` to the home folder, `.`,
 * `..` and repeated separators resolved, no trailing separator, lower-cased where the file system
 * ignores case. Surrounding blanks and quotes are read both ways, since some servers strip them.
 */
function judgePath(text: string, spelling: Spelling): Judged {
  const readings = new Set([text, text.trim(), text.trim().replace(/^["']|["']$/g, '')]);
  const styles: Array<'posix' | 'windows'> = spelling.platform === 'unknown' ? ['posix', 'windows'] : [spelling.platform];
  const forms = new Map<string, CanonicalForm>();
  for (const reading of readings) {
    if (reading === '') continue;
    for (const style of styles) {
      const resolved = resolvePath(reading, style, spelling);
      if ('unjudgeable' in resolved) return resolved;
      for (const path of resolved.paths) {
        const canonical = spelling.caseInsensitivePaths || style === 'windows' ? path.toLowerCase() : path;
        forms.set(canonical, { kind: 'path', canonical });
      }
    }
  }
  return forms.size > 0 ? { forms: [...forms.values()] } : { unjudgeable: 'it is empty' };
}

function resolvePath(reading: string, style: 'posix' | 'windows', spelling: Spelling): { paths: string[] } | { unjudgeable: string } {
  // Windows paths are compared in POSIX form: `c:/users/x`.
  let path = style === 'windows' ? reading.replace(/\\/g, '/') : reading;
  if (path === '~' || path.startsWith('~/')) {
    if (!spelling.home) return { unjudgeable: "it starts with '~', and the server's home folder is not known" };
    path = `${toPosix(spelling.home, style)}${path.slice(1)}`;
  }
  const absolute = style === 'windows' ? /^(?:[A-Za-z]:)?\//.test(path) : path.startsWith('/');
  if (style === 'windows' && /^[A-Za-z]:(?!\/)/.test(path)) return { unjudgeable: 'it is a drive-relative Windows path' };
  if (absolute) return { paths: [normalPath(path)] };
  if (spelling.bases.length === 0) return { unjudgeable: 'it is a relative path, and no folder the server resolves it against is known' };
  return { paths: spelling.bases.map((base) => normalPath(`${toPosix(base, style)}/${path}`)) };
}

function toPosix(path: string, style: 'posix' | 'windows'): string {
  return style === 'windows' ? win32.normalize(path).replace(/\\/g, '/') : path;
}

function normalPath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

export function isContainerKind(kind: IdentifierKind): kind is 'path' | 'uri' {
  return kind === 'path' || kind === 'uri';
}

/** The folders a canonical path or URI is inside, nearest first. */
export function containersOf(kind: IdentifierKind, canonical: string): string[] {
  if (!isContainerKind(kind)) return [];
  const out: string[] = [];
  const root = kind === 'uri' ? (/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(canonical)?.[0] ?? '') : '';
  let rest = canonical.slice(root.length);
  for (let slash = rest.lastIndexOf('/'); slash >= 0; slash = rest.lastIndexOf('/')) {
    rest = rest.slice(0, slash);
    if (rest || root) out.push(`${root}${rest}`);
    else out.push('/');
    if (!rest) break;
  }
  return out;
}
