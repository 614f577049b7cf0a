/**
 * The relay pushes one virtual user sent and is still owed, remembered by their bytes until they
 * come back, and their share of the run's ledger (PushLedger): unanswered while the POST has no
 * answer, accepted once it answered 2xx and the push has not arrived. What happens on arrival
 * (latency, counters) stays with the virtual user (virtual-user.ts).
 */

/** Relay pushes of a run not back yet, by whether the server answered their POST (2xx). */
export interface PushLedger {
  unanswered: number;
  accepted: number;
  /** Called after every change (the drain window watches it). */
  changed(): void;
}

/** One relay push this user sent. A push can arrive before its POST is answered. */
export interface SentPush {
  at: number;
  /** The POST has its answer (or failed). */
  answered: boolean;
  arrived: boolean;
}

export class SentPushes {
  readonly #owed: PushLedger;
  #sent: Map<string, SentPush[]> | null = null;
  /** Relay pushes whose POST has no answer yet, arrived or not. */
  readonly #unanswered = new Set<SentPush>();

  constructor(owed: PushLedger) {
    this.#owed = owed;
  }

  /** Some relay push is still expected back. */
  get expecting(): boolean {
    return this.#sent !== null && this.#sent.size > 0;
  }

  /** A push carrying `data` (base64url, padding ignored) is expected back. */
  expects(data: string): boolean {
    return this.#sent?.has(data.replace(/=+$/, "")) ?? false;
  }

  remember(key: string, at: number): SentPush {
    this.#sent ??= new Map();
    const push: SentPush = { at, answered: false, arrived: false };
    const pushes = this.#sent.get(key);
    if (pushes) pushes.push(push);
    else this.#sent.set(key, [push]);
    this.#unanswered.add(push);
    this.#owed.unanswered++;
    return push;
  }

  /**
   * Relay bytes came in: the oldest push sent with them, taken off the list (settle() it once
   * counted); "unknown" when other pushes are owed but not these bytes; else null.
   */
  arrival(data: string): SentPush | "unknown" | null {
    const key = data.replace(/=+$/, "");
    const pushes = this.#sent?.get(key);
    if (pushes && pushes.length > 0) {
      const push = pushes.shift()!;
      if (pushes.length === 0) this.#sent!.delete(key);
      return push;
    }
    return this.#sent && this.#sent.size > 0 ? "unknown" : null;
  }

  /** The POST has its answer: accepted (owed until it arrives) or not. */
  answered(push: SentPush, accepted: boolean): void {
    if (!this.#unanswered.delete(push)) return;
    push.answered = true;
    const owed = this.#owed;
    owed.unanswered--;
    if (accepted && !push.arrived) owed.accepted++;
    owed.changed();
  }

  /** The push arrived: no longer owed. */
  settle(push: SentPush): void {
    if (push.arrived) return;
    push.arrived = true;
    const owed = this.#owed;
    if (push.answered) owed.accepted--;
    owed.changed();
  }

  /** The POST failed or was refused: nothing was promised, the push is no longer expected. */
  forget(key: string, push: SentPush): void {
    this.answered(push, false);
    const pushes = this.#sent?.get(key);
    const index = pushes?.indexOf(push) ?? -1;
    if (index < 0) return;
    pushes!.splice(index, 1);
    if (pushes!.length === 0) this.#sent!.delete(key);
  }

  /**
   * The user closes: accepted pushes not in are lost, unanswered ones in flight at the end; both
   * leave the run's ledger (the caller counts them, then calls the ledger's changed()).
   */
  close(): { lost: number; inFlight: number } {
    let lost = 0;
    let inFlight = 0;
    for (const pushes of this.#sent?.values() ?? []) {
      for (const push of pushes) if (push.answered && !push.arrived) lost++;
    }
    for (const push of this.#unanswered) if (!push.arrived) inFlight++;
    this.#owed.accepted -= lost;
    this.#owed.unanswered -= this.#unanswered.size;
    this.#unanswered.clear();
    this.#sent = null;
    return { lost, inFlight };
  }
}
