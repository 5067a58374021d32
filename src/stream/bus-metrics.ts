/**
 * What the PostgreSQL stream bus reports to the process's metrics (README "Operations"); src/metrics
 * implements it. Every method returns at once and never throws.
 */
export interface BusMetrics {
  /**
   * A chat event arrived `seconds` after its producer published it: by the producer's clock, so across
   * hosts it includes their clock difference (an event from a clock ahead counts as 0).
   */
  delivered(seconds: number): void;
  /** A NOTIFY waited `seconds` in this process, from its publish until PostgreSQL took it. */
  sent(seconds: number): void;
  /** NOTIFYs dropped while the publishing connection was down (the backlog bound). */
  dropped(count: number): void;
}
