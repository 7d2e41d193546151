import { MockIdpError } from './errors.ts';

/**
 * What a fault does to matching requests:
 * - `error`: answer with a documented error of the provider, in its own shape.
 * - `token`: tokens issued by the endpoint are defective (expired, wrong iss/aud, bad signature).
 * - `rotate-key`: rotate the provider's signing key now (new kid; the old key stays published).
 * - `delay`: wait before answering.
 * - `status`: answer with an HTTP 5xx.
 */
export type FaultAction =
  | { kind: 'error'; error: string; description?: string; status?: number }
  | { kind: 'token'; defect: TokenDefect }
  | { kind: 'rotate-key' }
  | { kind: 'delay'; ms: number }
  | { kind: 'status'; status: number };

export type TokenDefect =
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-iss'
  | 'wrong-aud'
  | 'bad-signature'
  | 'alg-none';
export const TOKEN_DEFECTS: readonly TokenDefect[] = [
  'expired',
  'not-yet-valid',
  'wrong-iss',
  'wrong-aud',
  'bad-signature',
  'alg-none',
];

/**
 * The claims a JWT carries under a token-defect fault (a copy of `payload`): `expired` an hour
 * ago, `not-yet-valid` for another hour, a foreign `iss` or `aud`. `bad-signature` and `alg-none`
 * leave the claims as they are; the signer changes the signature instead.
 */
export function defectiveClaims(
  payload: Record<string, unknown>,
  defect: TokenDefect | undefined,
  now: number,
): Record<string, unknown> {
  const claims = { ...payload };
  switch (defect) {
    case 'expired':
      claims['iat'] = now - 7200;
      claims['exp'] = now - 3600;
      if ('nbf' in claims) claims['nbf'] = now - 7200;
      break;
    case 'not-yet-valid':
      claims['nbf'] = now + 3600;
      break;
    case 'wrong-iss':
      claims['iss'] = 'https://issuer.invalid/';
      break;
    case 'wrong-aud':
      claims['aud'] = 'urn:mock:wrong-audience';
      break;
    default:
      break;
  }
  return claims;
}

export interface Fault {
  id: number;
  provider: string;
  /** Endpoint name (as in /_mock/providers) or `*` for every endpoint of the provider. */
  endpoint: string;
  action: FaultAction;
  /** How many more requests it applies to; `null` until cleared. */
  remaining: number | null;
}

export interface FaultInput {
  provider: string;
  endpoint?: string;
  action: FaultAction;
  times?: number;
}

function invalid(message: string): never {
  throw new MockIdpError('ERR_FAULT_INVALID', message);
}

/** Validates an untrusted fault description (from the control API). */
export function parseFault(input: unknown): FaultInput {
  if (!input || typeof input !== 'object') invalid('a fault must be a JSON object');
  const raw = input as Record<string, unknown>;
  if (typeof raw['provider'] !== 'string') invalid('"provider" must be a string');
  const endpoint = raw['endpoint'] ?? '*';
  if (typeof endpoint !== 'string') invalid('"endpoint" must be a string');
  const times = raw['times'];
  if (times !== undefined && (typeof times !== 'number' || !Number.isInteger(times) || times < 1)) {
    invalid('"times" must be a positive integer');
  }
  const a = (raw['action'] ?? raw) as Record<string, unknown>;
  const kind = a['kind'];
  let action: FaultAction;
  switch (kind) {
    case 'error':
      if (typeof a['error'] !== 'string' || !a['error']) invalid('"error" must name the error code');
      if (
        a['status'] !== undefined &&
        (typeof a['status'] !== 'number' || a['status'] < 200 || a['status'] > 599)
      ) {
        invalid('"status" must be an HTTP status');
      }
      action = {
        kind,
        error: a['error'],
        ...(typeof a['description'] === 'string' ? { description: a['description'] } : {}),
        ...(typeof a['status'] === 'number' ? { status: a['status'] } : {}),
      };
      break;
    case 'token':
      if (!TOKEN_DEFECTS.includes(a['defect'] as TokenDefect)) {
        invalid(`"defect" must be one of ${TOKEN_DEFECTS.join(', ')}`);
      }
      action = { kind, defect: a['defect'] as TokenDefect };
      break;
    case 'rotate-key':
      action = { kind };
      break;
    case 'delay':
      if (typeof a['ms'] !== 'number' || a['ms'] < 0 || a['ms'] > 120_000) invalid('"ms" must be 0..120000');
      action = { kind, ms: a['ms'] };
      break;
    case 'status':
      if (typeof a['status'] !== 'number' || a['status'] < 500 || a['status'] > 599) {
        invalid('"status" must be a 5xx status');
      }
      action = { kind, status: a['status'] };
      break;
    default:
      invalid('"kind" must be one of error, token, rotate-key, delay, status');
  }
  return { provider: raw['provider'], endpoint, action, ...(times ? { times } : {}) };
}

export class FaultRegistry {
  #faults: Fault[] = [];
  #next = 1;

  add(input: FaultInput): Fault {
    const fault: Fault = {
      id: this.#next++,
      provider: input.provider,
      endpoint: input.endpoint ?? '*',
      action: input.action,
      remaining: input.times ?? null,
    };
    this.#faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return [...this.#faults];
  }

  remove(id: number): boolean {
    const before = this.#faults.length;
    this.#faults = this.#faults.filter((f) => f.id !== id);
    return this.#faults.length < before;
  }

  clear(): void {
    this.#faults = [];
  }

  /** Takes (and counts down) the faults that apply to one request, optionally of one kind. */
  take(provider: string, endpoint: string, kinds?: FaultAction['kind'][]): FaultAction[] {
    const hits: FaultAction[] = [];
    for (const f of this.#faults) {
      if (f.provider !== provider || (f.endpoint !== '*' && f.endpoint !== endpoint)) continue;
      if (kinds && !kinds.includes(f.action.kind)) continue;
      hits.push(f.action);
      if (f.remaining !== null) f.remaining -= 1;
    }
    this.#faults = this.#faults.filter((f) => f.remaining === null || f.remaining > 0);
    return hits;
  }
}
