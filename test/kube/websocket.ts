/**
 * The minimum of RFC 6455 that `kubectl exec` needs: the handshake, unmasked server frames,
 * masked client frames (with fragmentation and ping/close control frames).
 */
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export const acceptKey = (key: string): string => createHash('sha1').update(key + GUID).digest('base64');

/** A server frame: FIN set, never masked. */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) header = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) {
    header = Buffer.alloc(4);
    header.writeUInt16BE(len, 2);
    header[1] = 126;
  } else {
    header = Buffer.alloc(10);
    header.writeBigUInt64BE(BigInt(len), 2);
    header[1] = 127;
  }
  header[0] = 0x80 | opcode;
  return Buffer.concat([header, payload]);
}

export interface Message {
  opcode: number;
  payload: Buffer;
}

/** Accumulates bytes from the socket and yields complete messages (fragments joined). */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;

  push(chunk: Buffer): Message[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Message[] = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const fin = (this.buf[0]! & 0x80) !== 0;
      const opcode = this.buf[0]! & 0x0f;
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskLen = masked ? 4 : 0;
      if (this.buf.length < off + maskLen + len) break;
      const mask = this.buf.subarray(off, off + maskLen);
      const payload = Buffer.from(this.buf.subarray(off + maskLen, off + maskLen + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      this.buf = this.buf.subarray(off + maskLen + len);
      if (opcode >= 8) out.push({ opcode, payload }); // control frames may interleave fragments
      else if (!fin) {
        if (opcode !== OPCODE.continuation) this.fragmentOpcode = opcode;
        this.fragments.push(payload);
      } else if (opcode === OPCODE.continuation) {
        out.push({ opcode: this.fragmentOpcode, payload: Buffer.concat([...this.fragments, payload]) });
        this.fragments = [];
      } else out.push({ opcode, payload });
    }
    return out;
  }
}
