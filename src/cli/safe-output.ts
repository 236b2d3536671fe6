/**
 * Where output leaves the plugin: stdout and stderr are wrapped once, in runCli, so that every
 * write (the plan in each format, progress, the streamed output of helm, kubectl and Jobs, debug
 * logs, errors) passes through the run's Redactor. Adapters add the secrets they read to it.
 */
import { Redactor } from '../core/redact.js';

export interface RedactedStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  secrets: Redactor;
}

export function redactStreams(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, secrets = new Redactor()): RedactedStreams {
  return { stdout: redacting(stdout, secrets), stderr: redacting(stderr, secrets), secrets };
}

/**
 * The stream itself with write() redacting, everything else (isTTY, columns, events) its own: the
 * confirmation prompt's readline still sees the terminal it writes to.
 */
function redacting(stream: NodeJS.WritableStream, secrets: Redactor): NodeJS.WritableStream {
  const write = (chunk: unknown, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    return (stream.write as (c: string, ...r: unknown[]) => boolean)(secrets.redact(text), ...rest);
  };
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === 'write') return write;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
