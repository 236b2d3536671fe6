/**
 * A minimal tar reader (ustar, GNU long names, pax paths), for migration sources and chart
 * packages: no dependency for a format this small.
 */
import { gunzipSync } from 'node:zlib';

export interface TarEntry {
  path: string;
  /** 'other': a device, a FIFO, or a type this reader does not know. */
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  data: Buffer;
  /** For links: the path the entry points to. */
  linkTarget?: string;
}

/** ustar/GNU/pax headers: 512-byte blocks, sizes in octal (or base-256), data padded to 512. */
export function* tarEntries(tar: Buffer, broken: (why: string) => Error): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let paxPath: string | undefined;
  let paxLink: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) return;
    const stored = parseNumber(header.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (stored !== sum) throw broken(`bad header checksum at byte ${offset}`);
    const size = parseNumber(header.subarray(124, 136));
    const data = tar.subarray(offset + 512, offset + 512 + size);
    if (data.length < size) throw broken('truncated');
    offset += 512 + Math.ceil(size / 512) * 512;
    const flag = String.fromCharCode(header[156]!);
    if (flag === 'L') {
      longName = cString(data);
      continue;
    }
    if (flag === 'K') {
      longLink = cString(data);
      continue;
    }
    if (flag === 'x') {
      const records = paxRecords(data);
      paxPath = records.get('path') ?? paxPath;
      paxLink = records.get('linkpath') ?? paxLink;
      continue;
    }
    if (flag === 'g') continue;
    // The POSIX prefix field only exists in "ustar\0" headers; GNU's "ustar  " uses those bytes otherwise.
    const prefix = header.toString('latin1', 257, 263) === 'ustar\0' ? cString(header.subarray(345, 500)) : '';
    const name = paxPath ?? longName ?? (prefix === '' ? cString(header.subarray(0, 100)) : `${prefix}/${cString(header.subarray(0, 100))}`);
    const link = paxLink ?? longLink ?? cString(header.subarray(157, 257));
    longName = longLink = paxPath = paxLink = undefined;
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
    yield type === 'symlink' || type === 'hardlink' ? { path: name, type, data, linkTarget: link } : { path: name, type, data };
  }
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end < 0 ? bytes.length : end);
}

function parseNumber(field: Buffer): number {
  // GNU base-256 for values that do not fit in octal: high bit set, big-endian.
  if ((field[0]! & 0x80) !== 0) return field.subarray(1).reduce((n, b) => n * 256 + b, field[0]! & 0x7f);
  const text = cString(field).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** pax extended header: "<length> <key>=<value>\n" records. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = parseInt(data.toString('latin1', at, space), 10);
    if (space < 0 || !Number.isInteger(length) || length <= 0) break;
    const record = data.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

/** The entries of a .tgz (or plain .tar); `broken` makes the error for a damaged archive. */
export function readTarball(archive: Buffer, broken: (why: string) => Error, maxBytes = 256 * 1024 * 1024): TarEntry[] {
  let tar = archive;
  if (archive[0] === 0x1f && archive[1] === 0x8b) {
    try {
      tar = gunzipSync(archive, { maxOutputLength: maxBytes });
    } catch (err) {
      throw broken(`not a readable gzip file: ${(err as Error).message}`);
    }
  }
  if (tar.length < 512 || tar.toString('latin1', 257, 262) !== 'ustar') throw broken('not a tar archive');
  return [...tarEntries(tar, broken)];
}
