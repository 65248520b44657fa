// One client's HTTP/2 connection as the front door tracks it: where it comes from, the calls it
// has open (what they hold in the proxy), and the times its lifetime rules look at.
import type http2 from "node:http2";
import type { CallTally } from "./build-records.ts";
import type { TLSSocket } from "node:tls";
import type { Call } from "./forward.ts";
import { StepOutOfSpace } from "./out-of-space.ts";
import { type PeerCertificate, peerCertificateOf } from "./peer-certificate.ts";

/** How recent a wait of a connection's other calls must be for its first build to take it. */
const WAKE_WAIT_CLAIM_MS = 60_000;

export class ClientConnection {
  readonly calls = new Set<Call>();
  readonly openedAt = Date.now();
  /** The client's preface and SETTINGS have arrived. */
  settled = false;
  /** Since when no call has been open. */
  idleSince = Date.now();
  /** A keepalive PING is out, sent then; 0 when none is. */
  pingSentAt = 0;
  lastPongAt = Date.now();
  /**
   * The last BuildKit session (Control/Session: its uuid, and the tally of its bytes) opened on
   * this connection: the builds that follow on it belong to it.
   */
  buildkitSession: { id: string | undefined; tally: CallTally | undefined } | undefined;
  /** What steps' output in Status answers on this connection said of a full disk, by build. */
  readonly steps = new StepOutOfSpace();
  /** The longest any call on this connection waited for its satellite to wake, and when it was let go (see `wakeWaitFor`). */
  private wakeWaitMs = 0;
  private wakeWaitEndedAt = 0;
  private wakeWaitClaimed = false;
  /** The Earthly reserve its builds follow, looked up (in Redis) by its first build: its wait, or undefined for none. */
  private reserve: Promise<number | undefined> | undefined;
  /** The client certificate its TLS handshake presented, read once (none on h2c). */
  readonly peer: PeerCertificate;

  constructor(
    readonly session: http2.ServerHttp2Session,
    readonly source: string,
    /** Counts a reset this connection's client caused against its address (with the stream's code, when known). */
    readonly countReset: (code?: number) => void,
  ) {
    this.peer = peerCertificateOf(session.encrypted ? (session.socket as unknown as TLSSocket) : undefined);
  }

  /** Bytes this connection's calls hold in the proxy right now. */
  buffered(): number {
    let n = 0;
    for (const c of this.calls) n += c.buffered;
    return n;
  }

  track(call: Call): void {
    this.calls.add(call);
  }

  untrack(call: Call): void {
    if (this.calls.delete(call) && this.calls.size === 0) this.idleSince = Date.now();
  }

  /** A call on this connection waited `ms` for its satellite to wake before it was forwarded. */
  noteWakeWait(ms: number): void {
    if (ms <= this.wakeWaitMs) return;
    this.wakeWaitMs = ms;
    this.wakeWaitEndedAt = Date.now();
  }

  /**
   * How long a build waited for the wake, given its Solve's own wait: a client's first calls (a
   * session, a health check, the Solve) are held together, and the Solve is not always among
   * them, so the connection's first build takes the longest wait of its calls (if it ended
   * within the last minute: a connection kept open for hours is not waiting); later builds on it
   * only their own. `takesReserve`: nothing on this connection waited for its first build, so
   * what its client waited before connecting (its Earthly reserve, `reserveOf`) is the build's.
   */
  wakeWaitFor(solveWaitedMs: number): { ms: number; takesReserve: boolean } {
    if (this.wakeWaitClaimed) return { ms: solveWaitedMs, takesReserve: false };
    this.wakeWaitClaimed = true;
    const here = Date.now() - this.wakeWaitEndedAt <= WAKE_WAIT_CLAIM_MS ? Math.max(solveWaitedMs, this.wakeWaitMs) : solveWaitedMs;
    return { ms: here, takesReserve: here === 0 };
  }

  /** The wait of the Earthly reserve this connection's builds follow (reserve-waits.ts), claimed once, by its first build; undefined for none. */
  reserveOf(claim: () => Promise<number | undefined>): Promise<number | undefined> {
    return (this.reserve ??= claim());
  }

  get gone(): boolean {
    return this.session.closed || this.session.destroyed;
  }
}
