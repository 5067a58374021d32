/**
 * GenerationCache: entries hold for the config generation they were read under; a newer generation
 * drops them all, a value read under an older one is never kept, and the entry count is bounded
 * with the least recently used entry going first.
 */
import { GenerationCache } from '../../../src/turn/generation-cache';

describe('GenerationCache', () => {
  it('serves an entry while the generation it was read under is current', () => {
    const cache = new GenerationCache<string>(10);
    expect(cache.get('a', 1)).toBeUndefined();
    cache.set('a', 1, 'first');
    expect(cache.get('a', 1)).toBe('first');
  });

  it('drops every entry when a newer generation is seen', () => {
    const cache = new GenerationCache<string>(10);
    cache.set('a', 1, 'first');
    cache.set('b', 1, 'other');
    expect(cache.get('a', 2)).toBeUndefined();
    // A reader that still saw the older generation gets nothing either, and cannot bring it back.
    expect(cache.get('b', 1)).toBeUndefined();
    cache.set('b', 1, 'stale');
    expect(cache.get('b', 2)).toBeUndefined();
    cache.set('a', 2, 'second');
    expect(cache.get('a', 2)).toBe('second');
  });

  it('drops every entry on clear', () => {
    const cache = new GenerationCache<string>(10);
    cache.set('a', 1, 'first');
    cache.clear();
    expect(cache.get('a', 1)).toBeUndefined();
  });

  it('keeps at most maxEntries, evicting the least recently used', () => {
    const cache = new GenerationCache<string>(2);
    cache.set('a', 1, 'A');
    cache.set('b', 1, 'B');
    expect(cache.get('a', 1)).toBe('A');
    cache.set('c', 1, 'C');
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.get('a', 1)).toBe('A');
    expect(cache.get('c', 1)).toBe('C');
  });
});
