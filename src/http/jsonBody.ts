import type { IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { parse as parseContentType } from 'content-type';
import getRawBody from 'raw-body';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { RpcErrorCode } from '../core/infra/errors';
import { jsonDepthExceeds } from '../core/infra/jsonDepth';
import { EdgeRefusal } from './edge';

export type BodyLimits = {
  /** `hub.maxBodyBytes`: the most bytes a body may have once decoded. */
  maxBodyBytes: number;
  /** `hub.maxJsonDepth`: how deeply it may nest arrays and objects. */
  maxJsonDepth: number;
};

const decoders = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

/** Whether the request says it has a body (RFC 9112: Transfer-Encoding, or a Content-Length other than 0). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

type ReadContentType = { json: boolean; charset?: string };

function readContentType(contentType: string | undefined): ReadContentType {
  if (!isJsonContentType(contentType)) return { json: false };
  try {
    return { json: true, charset: parseContentType(contentType ?? '').parameters.charset?.toLowerCase() };
  } catch {
    return { json: true }; // the SDK's reading of a sloppy parameter section: the media type decides
  }
}

/** The Content-Type header last read: a client sends the same one on every request, parsed once. */
let lastContentType: { header: string | undefined; read: ReadContentType } = { header: undefined, read: { json: false } };

function contentTypeOf(header: string | undefined): ReadContentType {
  if (header !== lastContentType.header) lastContentType = { header, read: readContentType(header) };
  return lastContentType.read;
}

/**
 * The JSON body of a request, parsed: undefined when it has none or its Content-Type is not JSON
 * (the endpoint answers that with 415). Throws the `EdgeRefusal` to answer for a body that is too
 * large (413), nested too deeply, not JSON, not an object or array (400), or in a charset or
 * Content-Encoding the hub does not read (415). The depth is checked on the bytes, before the
 * parser builds anything.
 */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const { json, charset } = contentTypeOf(req.headers['content-type']);
  if (!json) return undefined;
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new EdgeRefusal(415, RpcErrorCode.Refused, `Unsupported Media Type: charset '${charset}'; send UTF-8`);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const decoder = decoders.get(encoding);
  if (encoding !== 'identity' && !decoder) {
    throw new EdgeRefusal(415, RpcErrorCode.Refused, `Unsupported Media Type: Content-Encoding '${encoding}' (the hub reads gzip, deflate, br or none)`);
  }
  const decoding = decoder?.();
  const stream: Readable = decoding ? req.pipe(decoding) : req;
  let bytes: Buffer;
  try {
    // With no decoder, a Content-Length that does not match what arrives is an error of its own.
    bytes = await getRawBody(stream, { limit: limits.maxBodyBytes, length: decoding ? undefined : req.headers['content-length'] });
  } catch (error) {
    await drain(req, decoding);
    throw refusalOf(error, limits.maxBodyBytes);
  }
  if (jsonDepthExceeds(bytes, limits.maxJsonDepth)) {
    throw new EdgeRefusal(400, RpcErrorCode.InvalidParams, `Invalid params: JSON nested deeper than ${limits.maxJsonDepth} levels (hub.maxJsonDepth)`);
  }
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null) throw new EdgeRefusal(400, RpcErrorCode.ParseError, 'Parse error: the body is not a JSON object or array');
  return body;
}

/**
 * Reads off the rest of a body that was refused part-way (raw-body leaves the request paused),
 * before the refusal is sent: on a keep-alive connection the next request comes after it.
 */
function drain(req: IncomingMessage, decoder: Transform | undefined): Promise<void> {
  if (decoder) {
    req.unpipe(decoder);
    decoder.destroy();
  }
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve).once('close', resolve).once('error', resolve);
    req.resume();
  });
}

function refusalOf(error: unknown, maxBodyBytes: number): EdgeRefusal {
  const { type, status, message } = error as { type?: string; status?: number; message?: string };
  if (type === 'entity.too.large') return new EdgeRefusal(413, RpcErrorCode.InvalidRequest, `Request body larger than ${maxBodyBytes} bytes (hub.maxBodyBytes)`);
  if (status !== undefined && status >= 400 && status < 500) return new EdgeRefusal(status, RpcErrorCode.InvalidRequest, `Bad request: ${message ?? 'unreadable body'}`);
  // A decoder's error: the body says it is compressed and is not.
  return new EdgeRefusal(400, RpcErrorCode.InvalidRequest, `Bad request: the body could not be decoded: ${message ?? String(error)}`);
}
