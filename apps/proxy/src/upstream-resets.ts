// How many stream resets one connection to a satellite has sent, against the limit the satellite
// may enforce. nghttp2 (under Node's HTTP/2 server — the built-in satellite — and many others)
// ends a connection with GOAWAY INTERNAL_ERROR once a client's RST_STREAM frames exceed a token
// bucket (burst 1000, refilled 33 per second: its rapid-reset defence, which Node 20 cannot
// configure). All callers of a satellite share the proxy's connection, so one client cancelling
// many calls would end everybody's calls with it. The pool retires a connection (no new calls;
// open ones finish) well before that bucket can run dry, and new calls take a fresh one.
const PEER_BURST = 1000;
const PEER_RATE_PER_SECOND = 33;
/** Retire at half the peer's burst: resets already in flight must not reach its limit. */
const RETIRE_BELOW = PEER_BURST / 2;

export class UpstreamResets {
  private tokens = PEER_BURST;
  private at = performance.now();

  /** Counts one reset sent; true once the connection should take no new calls. */
  sent(now = performance.now()): boolean {
    this.tokens = Math.min(PEER_BURST, this.tokens + ((now - this.at) / 1000) * PEER_RATE_PER_SECOND);
    this.at = now;
    this.tokens -= 1;
    return this.tokens < RETIRE_BELOW;
  }
}
