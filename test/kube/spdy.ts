/**
 * The server side of SPDY/3.1 as `kubectl port-forward` (client-go over moby/spdystream) speaks it,
 * both inside a WebSocket tunnel and over a plain upgraded socket. Only what that client sends and
 * reads is modelled:
 *
 * - Frames: an 8-byte header. Control frames: bit 0 set, version 3, type, 8-bit flags, 24-bit
 *   length. Data frames: bit 0 clear, 31-bit stream id, flags (FIN = 1), 24-bit length.
 * - SYN_STREAM (client streams have odd ids) is answered with SYN_REPLY (empty header block) at
 *   once: the client's CreateStream waits up to 30 s for it, and drops data that arrives before it.
 * - Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are `u32 count, (u32 len, name, u32 len, value)*`
 *   compressed with zlib, the SPDY/3 dictionary, ONE compression context per direction for the
 *   whole connection, each block ending with a sync flush. Go's reader rejects a block whose
 *   compressed bytes it does not consume exactly ("WrongCompressedPayloadSize").
 * - PING with an odd id (the client pings every 10 s) is echoed; GOAWAY ends the session;
 *   RST_STREAM ends one stream; SETTINGS and WINDOW_UPDATE are ignored (spdystream has no flow control).
 */
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

export const TYPE = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;
export const FLAG_FIN = 0x01;
/** RST_STREAM status codes. */
export const RST = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6 } as const;
const MAX_LENGTH = 0xffffff;

/**
 * The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 section 2.6.10.1):
 * length-prefixed header names and values, then a run of common strings.
 */
const DICTIONARY = (() => {
  const words = [
    'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
    'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
    'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
    'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
    'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
    'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
    'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
  ];
  const tail =
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  const parts = words.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length);
    b.write(w, 4, 'latin1');
    return b;
  });
  return Buffer.concat([...parts, Buffer.from(tail, 'latin1')]);
})();

export type Headers = Record<string, string>;

export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [u32(Object.keys(headers).length)];
  for (const [name, value] of Object.entries(headers)) {
    for (const s of [name.toLowerCase(), value]) parts.push(u32(Buffer.byteLength(s)), Buffer.from(s));
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(raw: Buffer): Headers {
  const out: Headers = {};
  let off = 4;
  const read = () => {
    const len = raw.readUInt32BE(off);
    const s = raw.subarray(off + 4, off + 4 + len).toString();
    off += 4 + len;
    return s;
  };
  for (let n = raw.readUInt32BE(0); n > 0; n--) out[read()] = read(); // several values would be joined by "\0"
  return out;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | 3, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  if (data.length > MAX_LENGTH) throw new RangeError('SPDY data frame too long');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((flags << 24) | data.length) >>> 0, 4);
  return Buffer.concat([head, data]);
}

export interface Frame {
  control: boolean;
  /** Control frames only. */
  type: number;
  /** Data frames: the stream id; control frames: 0 (the id is in the payload). */
  streamId: number;
  flags: number;
  payload: Buffer;
}

/** Splits a byte stream into frames (WebSocket message boundaries need not match frame boundaries). */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32BE(4) & MAX_LENGTH;
      if (this.buf.length < 8 + length) break;
      const first = this.buf.readUInt32BE(0);
      const control = (first & 0x80000000) !== 0;
      frames.push({
        control,
        type: control ? first & 0xffff : 0,
        streamId: control ? 0 : first & 0x7fffffff,
        flags: this.buf[4]!,
        payload: Buffer.from(this.buf.subarray(8, 8 + length)),
      });
      this.buf = this.buf.subarray(8 + length);
    }
    return frames;
  }
}

/** One zlib context, fed block by block, each block ending at a sync flush (as Go's framer writes them). */
function zlibContext(z: Deflate | Inflate): (block: Buffer) => Promise<Buffer> {
  const out: Buffer[] = [];
  let failure: Error | undefined;
  z.on('data', (b: Buffer) => out.push(b));
  z.on('error', (err) => (failure = err));
  return (block) =>
    new Promise((resolve, reject) => {
      z.write(block);
      // Output of a flush is emitted before its callback runs (the `ws` package relies on the same).
      z.flush(constants.Z_SYNC_FLUSH, () => (failure ? reject(failure) : resolve(Buffer.concat(out.splice(0)))));
    });
}

/** A client-initiated stream, from the server's side. */
export interface SpdyStream {
  readonly id: number;
  readonly headers: Headers;
  /** Data the client sent; called in order. */
  onData?: (data: Buffer) => void;
  /** The client half-closed (FIN): it sends nothing more. */
  onEnd?: () => void;
  /** The client reset the stream, or the session ended. */
  onReset?: () => void;
  write(data: Buffer): void;
  /** Half-closes our side (an empty DATA frame with FIN), as spdystream's Stream.Close() does. */
  end(): void;
  reset(status?: number): void;
}

/**
 * The server end of one SPDY connection. `send` writes bytes towards the client; feed the client's
 * bytes to push(). Outgoing frames are written in order, header compression included.
 */
export class SpdyServerSession {
  private readonly splitter = new FrameSplitter();
  private readonly compress = zlibContext(createDeflate({ dictionary: DICTIONARY }));
  private readonly decompress = zlibContext(createInflate({ dictionary: DICTIONARY }));
  private readonly streams = new Map<number, SpdyStream & { ended: boolean; closed: boolean }>();
  /** Incoming frames are handled one after another (header blocks decompress asynchronously). */
  private inbound: Promise<void> = Promise.resolve();
  private outbound: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly send: (bytes: Buffer) => void,
    private readonly onStream: (stream: SpdyStream) => void,
    private readonly onClose: (why: string) => void,
  ) {}

  push(chunk: Buffer): void {
    for (const frame of this.splitter.push(chunk)) {
      this.inbound = this.inbound.then(() => this.handle(frame)).catch((err: unknown) => this.close(`bad frame: ${String(err)}`));
    }
  }

  /** Ends every stream and the session (no more frames are sent). */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.onReset?.();
    this.streams.clear();
    this.onClose(why);
  }

  private queue(frame: () => Buffer | Promise<Buffer>): void {
    this.outbound = this.outbound
      .then(async () => {
        if (!this.closed) this.send(await frame());
      })
      .catch((err: unknown) => this.close(`cannot send: ${String(err)}`));
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    if (!f.control) {
      const s = this.streams.get(f.streamId);
      if (!s) return; // reset or unknown: dropped, as spdystream does
      if (f.payload.length) s.onData?.(f.payload);
      if (f.flags & FLAG_FIN) this.remoteEnd(s);
      return;
    }
    switch (f.type) {
      case TYPE.synStream: {
        const id = f.payload.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(await this.decompress(f.payload.subarray(10)));
        if (id % 2 !== 1 || this.streams.has(id)) return this.queue(() => rst(id, RST.protocolError));
        const stream = this.newStream(id, headers);
        this.streams.set(id, stream);
        this.queue(async () => controlFrame(TYPE.synReply, 0, Buffer.concat([u32(id), await this.compress(encodeHeaderBlock({}))])));
        this.onStream(stream);
        if (f.flags & FLAG_FIN) this.remoteEnd(stream);
        return;
      }
      case TYPE.headers:
        await this.decompress(f.payload.subarray(4)); // keeps the shared context in step; the headers are unused
        return;
      case TYPE.rstStream: {
        const s = this.streams.get(f.payload.readUInt32BE(0) & 0x7fffffff);
        if (s) {
          this.streams.delete(s.id);
          s.closed = true;
          s.onReset?.();
        }
        return;
      }
      case TYPE.ping:
        if (f.payload.readUInt32BE(0) % 2 === 1) this.queue(() => controlFrame(TYPE.ping, 0, f.payload));
        return;
      case TYPE.goAway:
        return this.close('the client sent GOAWAY');
      default:
        return; // SETTINGS, WINDOW_UPDATE, and anything newer: ignored
    }
  }

  private remoteEnd(s: SpdyStream & { ended: boolean; closed: boolean }): void {
    s.onEnd?.();
    s.ended = true;
    if (s.closed) this.streams.delete(s.id);
  }

  private newStream(id: number, headers: Headers): SpdyStream & { ended: boolean; closed: boolean } {
    const stream: SpdyStream & { ended: boolean; closed: boolean } = {
      id,
      headers,
      ended: false,
      closed: false,
      write: (data: Buffer) => {
        if (stream.closed) return;
        for (let off = 0; off < data.length; off += MAX_LENGTH) {
          const part = data.subarray(off, off + MAX_LENGTH);
          this.queue(() => dataFrame(id, 0, part));
        }
      },
      end: () => {
        if (stream.closed) return;
        stream.closed = true;
        this.queue(() => dataFrame(id, FLAG_FIN, Buffer.alloc(0)));
        if (stream.ended) this.streams.delete(id);
      },
      reset: (status = RST.cancel as number) => {
        if (!this.streams.delete(id)) return;
        stream.closed = true;
        this.queue(() => rst(id, status));
      },
    };
    return stream;
  }
}

function rst(id: number, status: number): Buffer {
  return controlFrame(TYPE.rstStream, 0, Buffer.concat([u32(id), u32(status)]));
}
