/**
 * Decoder for the protobuf request bodies client-go's typed clientsets send.
 *
 * Helm's release storage (Secret and ConfigMap drivers, Helm 3 and 4) POSTs and PUTs with
 * `Content-Type: application/vnd.kubernetes.protobuf`; DELETE bodies are protobuf DeleteOptions.
 * Responses may always be JSON: every client accepts it. Only the fields Helm writes are decoded.
 *
 * Envelope: "k8s\0" + runtime.Unknown{1: TypeMeta{1 apiVersion, 2 kind}, 2: raw, 3, 4}.
 */
import { ApiError, type KubeObject, type ObjectMeta, type OwnerReference } from './types.js';

interface Field {
  num: number;
  /** Varint value (wire type 0) or the bytes of a length-delimited field (wire type 2). */
  int: number;
  bytes: Buffer;
}

function readFields(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('truncated varint');
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    const num = Math.floor(tag / 8);
    if (wire === 0) fields.push({ num, int: varint(), bytes: Buffer.alloc(0) });
    else if (wire === 2) {
      const len = varint();
      fields.push({ num, int: 0, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return fields;
}

const str = (f: Field): string => f.bytes.toString('utf8');

/** A proto map<string, V> is a repeated entry message {1: key, 2: value}. */
function mapEntries(fields: Field[], num: number): [string, Buffer][] {
  return fields
    .filter((f) => f.num === num)
    .map((f) => {
      const entry = readFields(f.bytes);
      const k = entry.find((e) => e.num === 1);
      const v = entry.find((e) => e.num === 2);
      return [k ? str(k) : '', v ? v.bytes : Buffer.alloc(0)];
    });
}

function time(f: Field | undefined): string | undefined {
  if (!f) return undefined;
  const seconds = readFields(f.bytes).find((x) => x.num === 1)?.int ?? 0;
  return new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

function ownerReference(buf: Buffer): OwnerReference {
  const fs = readFields(buf);
  const s = (n: number) => str(fs.find((f) => f.num === n) ?? { num: 0, int: 0, bytes: Buffer.alloc(0) });
  const b = (n: number) => fs.find((f) => f.num === n)?.int;
  const ref: OwnerReference = { apiVersion: s(5), kind: s(1), name: s(3), uid: s(4) };
  if (b(6) !== undefined) ref.controller = b(6) === 1;
  if (b(7) !== undefined) ref.blockOwnerDeletion = b(7) === 1;
  return ref;
}

function objectMeta(buf: Buffer): ObjectMeta {
  const fs = readFields(buf);
  const meta: ObjectMeta = {};
  const strings: [number, keyof ObjectMeta][] = [[1, 'name'], [2, 'generateName'], [3, 'namespace'], [5, 'uid'], [6, 'resourceVersion']];
  for (const [num, key] of strings) {
    const f = fs.find((x) => x.num === num);
    if (f && f.bytes.length) meta[key] = str(f);
  }
  const created = time(fs.find((f) => f.num === 8));
  if (created) meta.creationTimestamp = created;
  const labels = mapEntries(fs, 11);
  if (labels.length) meta.labels = Object.fromEntries(labels.map(([k, v]) => [k, v.toString('utf8')]));
  const annotations = mapEntries(fs, 12);
  if (annotations.length) meta.annotations = Object.fromEntries(annotations.map(([k, v]) => [k, v.toString('utf8')]));
  const owners = fs.filter((f) => f.num === 13).map((f) => ownerReference(f.bytes));
  if (owners.length) meta.ownerReferences = owners;
  const finalizers = fs.filter((f) => f.num === 14).map(str);
  if (finalizers.length) meta.finalizers = finalizers;
  return meta;
}

function decodeSecret(fs: Field[]): KubeObject {
  const out: KubeObject = { metadata: objectMeta(fs.find((f) => f.num === 1)?.bytes ?? Buffer.alloc(0)) };
  const data = mapEntries(fs, 2);
  if (data.length) out.data = Object.fromEntries(data.map(([k, v]) => [k, v.toString('base64')]));
  const type = fs.find((f) => f.num === 3);
  if (type) out.type = str(type);
  const stringData = mapEntries(fs, 4);
  if (stringData.length) out.stringData = Object.fromEntries(stringData.map(([k, v]) => [k, v.toString('utf8')]));
  const immutable = fs.find((f) => f.num === 5);
  if (immutable) out.immutable = immutable.int === 1;
  return out;
}

function decodeConfigMap(fs: Field[]): KubeObject {
  const out: KubeObject = { metadata: objectMeta(fs.find((f) => f.num === 1)?.bytes ?? Buffer.alloc(0)) };
  const data = mapEntries(fs, 2);
  if (data.length) out.data = Object.fromEntries(data.map(([k, v]) => [k, v.toString('utf8')]));
  const binary = mapEntries(fs, 3);
  if (binary.length) out.binaryData = Object.fromEntries(binary.map(([k, v]) => [k, v.toString('base64')]));
  const immutable = fs.find((f) => f.num === 4);
  if (immutable) out.immutable = immutable.int === 1;
  return out;
}

/** `kubectl auth can-i`: SelfSubjectAccessReview{2: spec{1: resourceAttributes{1 namespace, 2 verb, 3 group, 4 version, 5 resource, 6 subresource, 7 name}}}. */
function decodeAccessReview(fs: Field[]): KubeObject {
  const spec = readFields(fs.find((f) => f.num === 2)?.bytes ?? Buffer.alloc(0));
  const attrs = spec.find((f) => f.num === 1);
  if (!attrs) return { metadata: {}, spec: {} };
  const keys = ['', 'namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
  const resourceAttributes = Object.fromEntries(readFields(attrs.bytes).filter((f) => keys[f.num]).map((f) => [keys[f.num]!, str(f)]));
  return { metadata: {}, spec: { resourceAttributes } };
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a protobuf body into JSON; unknown kinds are refused with 415 so the gap is visible. */
export function decodeProtobuf(body: Buffer, urlKind?: string): KubeObject {
  if (!body.subarray(0, 4).equals(MAGIC)) throw new ApiError(400, 'BadRequest', 'protobuf body without the k8s\\0 prefix');
  const unknown = readFields(body.subarray(4));
  const typeMeta = readFields(unknown.find((f) => f.num === 1)?.bytes ?? Buffer.alloc(0));
  const apiVersion = str(typeMeta.find((f) => f.num === 1) ?? { num: 0, int: 0, bytes: Buffer.alloc(0) });
  const kind = str(typeMeta.find((f) => f.num === 2) ?? { num: 0, int: 0, bytes: Buffer.alloc(0) }) || (urlKind ?? '');
  const raw = readFields(unknown.find((f) => f.num === 2)?.bytes ?? Buffer.alloc(0));
  if (kind === 'Secret') return { apiVersion, kind, ...decodeSecret(raw) };
  if (kind === 'ConfigMap') return { apiVersion, kind, ...decodeConfigMap(raw) };
  if (kind === 'SelfSubjectAccessReview') return { apiVersion, kind, ...decodeAccessReview(raw) };
  // kubectl create namespace/serviceaccount: defaults fill the rest, so metadata is enough.
  if (kind === 'Namespace' || kind === 'ServiceAccount') {
    return { apiVersion, kind, metadata: objectMeta(raw.find((f) => f.num === 1)?.bytes ?? Buffer.alloc(0)) };
  }
  // DeleteOptions carry nothing the double honours from Helm (it never orphans).
  if (kind === 'DeleteOptions') return { apiVersion, kind, metadata: {} };
  // Typed-client commands such as `kubectl create job|deployment` land here: decoding a PodSpec
  // would need its whole schema, so the gap is reported instead of guessing.
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `kube double: cannot decode a protobuf ${apiVersion} ${kind} (typed clients such as kubectl create job/deployment); ` +
      'create it from a manifest (kubectl create -f / apply -f)',
  );
}
