/** One request the mock IdP received. */
export interface RequestEntry {
  seq: number;
  at: string;
  type: 'request';
  provider: string;
  endpoint: string;
  method: string;
  url: string;
  /** Query and body parameters, merged; a repeated parameter keeps every value. */
  params: Record<string, string | string[]>;
  /** Selected request headers (authorization, content-type, accept, user-agent, origin). */
  headers: Record<string, string>;
  status?: number;
}

/** One code or token the mock IdP issued. */
export interface IssuedEntry {
  seq: number;
  at: string;
  type: 'issued';
  provider: string;
  kind: 'code' | 'access_token' | 'refresh_token' | 'id_token';
  persona: string;
  client: string;
  value: string;
}

export type JournalEntry = RequestEntry | IssuedEntry;

type NewEntry = Omit<RequestEntry, 'seq' | 'at'> | Omit<IssuedEntry, 'seq' | 'at'>;

/** Ordered record of everything the mock saw and issued. Bounded so long runs stay small. */
export class Journal {
  #entries: JournalEntry[] = [];
  #seq = 0;
  readonly limit: number;

  constructor(limit = 50_000) {
    this.limit = limit;
  }

  add<T extends NewEntry>(entry: T): T & { seq: number; at: string } {
    const full = { ...entry, seq: ++this.#seq, at: new Date().toISOString() } as T & {
      seq: number;
      at: string;
    };
    this.#entries.push(full as unknown as JournalEntry);
    if (this.#entries.length > this.limit) this.#entries.splice(0, this.#entries.length - this.limit);
    return full;
  }

  entries(filter: { provider?: string; type?: JournalEntry['type']; since?: number } = {}): JournalEntry[] {
    return this.#entries.filter(
      (e) =>
        (!filter.provider || e.provider === filter.provider) &&
        (!filter.type || e.type === filter.type) &&
        (filter.since === undefined || e.seq > filter.since),
    );
  }

  get lastSeq(): number {
    return this.#seq;
  }

  clear(): void {
    this.#entries = [];
  }
}
