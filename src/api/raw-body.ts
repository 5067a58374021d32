/**
 * Reads a raw (non-JSON) request body with a hard size limit, for uploads the JSON body parser
 * leaves alone. A body over the limit is refused from its Content-Length when declared, or as soon
 * as the streamed bytes exceed it, without buffering the excess.
 */
import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from '../errors';

/**
 * The whole body as one Buffer. Throws PayloadTooLargeError (`message`) beyond `limit` bytes; the
 * rest of the body is then drained and discarded so the client still reads the 413 response.
 */
export function readRawBody(req: IncomingMessage, limit: number, message: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new PayloadTooLargeError(message));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Keep consuming so the socket is not stuck mid-upload; the bytes go nowhere.
        req.resume();
        reject(new PayloadTooLargeError(message));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(Object.assign(new Error('The client closed the connection during the upload.'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
