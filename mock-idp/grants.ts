import { createHash, timingSafeEqual } from 'node:crypto';
import { randomId } from './random.ts';

/** A pending authorization request, from /authorize until the persona signs in. */
export interface AuthorizationTxn {
  id: string;
  provider: string;
  clientId: string;
  /** The redirect_uri the client sent (undefined when it sent none and the registered one is used). */
  redirectUri: string | undefined;
  /** Where the code goes. */
  target: string;
  scope: string[];
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
  responseMode: 'query' | 'fragment' | 'form_post';
  /** Provider-specific values carried to the token endpoint (tenant, audience, access_type...). */
  extra: Record<string, unknown>;
  /** Extra parameters added to the redirect back (iss, session_state...). */
  redirectParams: Record<string, string>;
  createdAt: number;
}

export interface CodeRecord {
  code: string;
  txn: AuthorizationTxn;
  persona: string;
  expiresAt: number;
  redeemed: boolean;
  /** Tokens issued from this code, revoked if the code is replayed (RFC 6749 4.1.2). */
  tokens: string[];
}

export interface TokenRecord {
  value: string;
  provider: string;
  kind: 'access_token' | 'refresh_token';
  persona: string;
  clientId: string;
  scope: string[];
  /** Epoch seconds; undefined for tokens that never expire (GitHub OAuth App tokens). */
  expiresAt: number | undefined;
  revoked: boolean;
  /** Refresh family: every token descended from one code shares it. */
  family: string;
  extra: Record<string, unknown>;
}

/** Why a code could not be redeemed; each provider maps these to its own error shape. */
export type RedeemFailure =
  | 'unknown_code'
  | 'expired_code'
  | 'used_code'
  | 'client_mismatch'
  | 'redirect_uri_mismatch'
  | 'verifier_missing'
  | 'verifier_mismatch'
  | 'verifier_unexpected';

export type RedeemResult = { ok: true; record: CodeRecord } | { ok: false; reason: RedeemFailure };

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** RFC 7636 4.6: derive the challenge from the verifier and compare. */
export function pkceMatches(verifier: string, challenge: string, method: 'S256' | 'plain'): boolean {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  const derived = method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  return sameString(derived, challenge);
}

/** Authorization transactions, codes and tokens for every provider. */
export class GrantStore {
  #txns = new Map<string, AuthorizationTxn>();
  #codes = new Map<string, CodeRecord>();
  #tokens = new Map<string, TokenRecord>();

  createTxn(input: Omit<AuthorizationTxn, 'id' | 'createdAt'>): AuthorizationTxn {
    const txn = { ...input, id: randomId(24), createdAt: nowSeconds() };
    this.#txns.set(txn.id, txn);
    if (this.#txns.size > 10_000) this.#txns.delete(this.#txns.keys().next().value!);
    return txn;
  }

  /** Takes a pending transaction (single use); undefined when unknown or older than 30 minutes. */
  takeTxn(id: string): AuthorizationTxn | undefined {
    const txn = this.#txns.get(id);
    this.#txns.delete(id);
    if (!txn || nowSeconds() - txn.createdAt > 1800) return undefined;
    return txn;
  }

  peekTxn(id: string): AuthorizationTxn | undefined {
    return this.#txns.get(id);
  }

  createCode(txn: AuthorizationTxn, persona: string, value: string, ttlSeconds = 600): CodeRecord {
    const record: CodeRecord = {
      code: value,
      txn,
      persona,
      expiresAt: nowSeconds() + ttlSeconds,
      redeemed: false,
      tokens: [],
    };
    this.#codes.set(value, record);
    return record;
  }

  /**
   * Redeems a code once. A second redemption fails and revokes the tokens of the first. The
   * redirect_uri must equal the one sent to /authorize (RFC 6749 4.1.3); the verifier must match
   * the challenge (RFC 7636 4.6), and must be absent when no challenge was sent.
   */
  redeemCode(
    provider: string,
    code: string,
    check: { clientId: string; redirectUri: string | undefined; codeVerifier: string | undefined },
  ): RedeemResult {
    const record = this.#codes.get(code);
    if (!record || record.txn.provider !== provider) return { ok: false, reason: 'unknown_code' };
    if (record.redeemed) {
      for (const value of record.tokens) this.revokeFamilyOf(value);
      return { ok: false, reason: 'used_code' };
    }
    if (record.expiresAt <= nowSeconds()) return { ok: false, reason: 'expired_code' };
    if (record.txn.clientId !== check.clientId) return { ok: false, reason: 'client_mismatch' };
    if (record.txn.redirectUri !== undefined && record.txn.redirectUri !== check.redirectUri) {
      return { ok: false, reason: 'redirect_uri_mismatch' };
    }
    const { codeChallenge, codeChallengeMethod } = record.txn;
    if (codeChallenge) {
      if (!check.codeVerifier) return { ok: false, reason: 'verifier_missing' };
      if (!pkceMatches(check.codeVerifier, codeChallenge, codeChallengeMethod ?? 'plain')) {
        return { ok: false, reason: 'verifier_mismatch' };
      }
    } else if (check.codeVerifier) {
      return { ok: false, reason: 'verifier_unexpected' };
    }
    record.redeemed = true;
    return { ok: true, record };
  }

  issueToken(input: Omit<TokenRecord, 'revoked'> & { fromCode?: CodeRecord }): TokenRecord {
    const { fromCode, ...rest } = input;
    const record: TokenRecord = { ...rest, revoked: false };
    this.#tokens.set(record.value, record);
    fromCode?.tokens.push(record.value);
    return record;
  }

  /** A live (unrevoked, unexpired) token of the given provider and kind. */
  findToken(provider: string, value: string, kind?: TokenRecord['kind']): TokenRecord | undefined {
    const record = this.#tokens.get(value);
    if (!record || record.provider !== provider || record.revoked) return undefined;
    if (kind && record.kind !== kind) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= nowSeconds()) return undefined;
    return record;
  }

  /** Any record, live or not (for introspection answers and rotation reuse detection). */
  anyToken(value: string): TokenRecord | undefined {
    return this.#tokens.get(value);
  }

  revoke(value: string): boolean {
    const record = this.#tokens.get(value);
    if (!record || record.revoked) return false;
    record.revoked = true;
    return true;
  }

  revokeFamilyOf(value: string): void {
    const record = this.#tokens.get(value);
    if (!record) return;
    for (const t of this.#tokens.values()) if (t.family === record.family) t.revoked = true;
  }

  clear(): void {
    this.#txns.clear();
    this.#codes.clear();
    this.#tokens.clear();
  }
}
