/**
 * A per-process cache of values read from the config tables, valid for one config generation (see
 * the config_generation migration). Readers pass the generation they read in a statement they run
 * anyway; a newer one empties the cache, so a change committed by any process is seen by the next
 * reader that started after it, and while nothing changes the config tables are not read at all.
 */
import { LruMap } from '../lru-map';

export class GenerationCache<V> {
  private generation = 0;
  private readonly entries: LruMap<string, V>;

  /** `maxEntries` bounds memory; the least recently used entry goes first. */
  constructor(maxEntries: number) {
    this.entries = new LruMap(maxEntries);
  }

  /** The value cached under `key` for `generation`, if any. */
  get(key: string, generation: number): V | undefined {
    return this.holds(generation) ? this.entries.get(key) : undefined;
  }

  /**
   * Caches `value`, read after `generation` was observed (so it is at least that new). A value read
   * under a generation that is no longer the newest is not kept.
   */
  set(key: string, generation: number, value: V): void {
    if (this.holds(generation)) this.entries.set(key, value);
  }

  /** Drops every entry (a change this process made itself). */
  clear(): void {
    this.entries.clear();
  }

  /** Moves to a newer generation (dropping every entry); true when `generation` is the current one. */
  private holds(generation: number): boolean {
    if (generation > this.generation) {
      this.entries.clear();
      this.generation = generation;
    }
    return generation === this.generation;
  }
}
