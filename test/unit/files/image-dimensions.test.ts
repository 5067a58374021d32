/**
 * Image sizes read from file headers: providers refuse images over their pixel limits (Anthropic:
 * 8000×8000, 2000×2000 with many images), so chatd must know an image's size without decoding it.
 */
import { imageDimensions } from '../../../src/files/file-types';

const bytes = (...parts: Array<number[] | string | Buffer>): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.isBuffer(p) ? p : Buffer.from(p))),
  );
const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u16le = (n: number): number[] => [n & 0xff, n >> 8];
const u24le = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, n >> 16];

const png = (width: number, height: number): Buffer =>
  bytes(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    u32be(13),
    'IHDR',
    u32be(width),
    u32be(height),
    [8, 2, 0, 0, 0],
  );

// A real 1×1 PNG, as the e2e tests upload it.
const REAL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

describe('imageDimensions', () => {
  it('reads a PNG from its IHDR chunk', () => {
    expect(imageDimensions(REAL_PNG)).toEqual({ width: 1, height: 1 });
    expect(imageDimensions(png(9000, 300))).toEqual({ width: 9000, height: 300 });
  });

  it('reads a GIF from its logical screen', () => {
    expect(imageDimensions(bytes('GIF89a', u16le(640), u16le(480), [0, 0, 0]))).toEqual({ width: 640, height: 480 });
  });

  it.each([
    // Lossy: frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (top bits are scale).
    [
      'VP8',
      bytes(
        'RIFF',
        [0, 0, 0, 0],
        'WEBPVP8 ',
        [0, 0, 0, 0],
        [0, 0, 0],
        [0x9d, 0x01, 0x2a],
        u16le(0xc000 | 1024),
        u16le(768),
      ),
    ],
    // Lossless: signature 0x2f, then (width - 1) and (height - 1) in 14 bits each.
    [
      'VP8L',
      bytes(
        'RIFF',
        [0, 0, 0, 0],
        'WEBPVP8L',
        [0, 0, 0, 0],
        [0x2f],
        (() => {
          const v = (1024 - 1) | ((768 - 1) << 14);
          return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
        })(),
      ),
    ],
    // Extended: flags and reserved bytes, then the canvas as 24-bit (width - 1) and (height - 1).
    ['VP8X', bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8X', [10, 0, 0, 0], [0, 0, 0, 0], u24le(1023), u24le(767))],
  ])('reads a WebP %s header', (_kind, data) => {
    expect(imageDimensions(data)).toEqual({ width: 1024, height: 768 });
  });

  it('reads a JPEG from its first frame header, past the segments before it', () => {
    const app0 = bytes([0xff, 0xe0, 0x00, 0x10], 'JFIF\0', [1, 1, 0, 0, 1, 0, 1, 0, 0]);
    const dqt = bytes([0xff, 0xdb, 0x00, 0x43], Buffer.alloc(0x41));
    const dht = bytes([0xff, 0xc4, 0x00, 0x04, 0x00, 0x00]); // C4 is in the SOF range but is not one
    const sof2 = bytes([0xff, 0xc2, 0x00, 0x11, 0x08, 0x0b, 0xb8, 0x1f, 0x40, 0x03], Buffer.alloc(9));
    expect(imageDimensions(bytes([0xff, 0xd8], app0, dqt, dht, sof2))).toEqual({ width: 8000, height: 3000 });
  });

  it('gives up on a header that is cut short or not an image', () => {
    expect(imageDimensions(png(10, 10).subarray(0, 20))).toBeUndefined();
    expect(imageDimensions(bytes([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]))).toBeUndefined();
    expect(imageDimensions(bytes([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]))).toBeUndefined();
    expect(imageDimensions(bytes('<svg/>'))).toBeUndefined();
  });
});
