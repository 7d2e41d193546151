import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { randomId } from './random.ts';

export interface SigningKey {
  kid: string;
  alg: 'RS256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(prefix: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `${prefix}-${randomId(12)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, alg: 'RS256', privateKey, publicJwk };
}

/**
 * One provider's signing keys: the current key, the keys still published after a rotation (the
 * overlap), and an untrusted key that is never published (for badly signed tokens).
 */
export class KeySet {
  readonly #prefix: string;
  #current: Promise<SigningKey> | undefined;
  #retired: SigningKey[] = [];
  #untrusted: Promise<SigningKey> | undefined;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  current(): Promise<SigningKey> {
    this.#current ??= newKey(this.#prefix);
    return this.#current;
  }

  untrusted(): Promise<SigningKey> {
    this.#untrusted ??= newKey(`${this.#prefix}-untrusted`);
    return this.#untrusted;
  }

  /** Starts signing with a new key; the old one stays in the JWKS (overlap) until `dropRetired`. */
  async rotate(): Promise<SigningKey> {
    const old = await this.current();
    this.#retired.push(old);
    this.#current = newKey(this.#prefix);
    return this.#current;
  }

  dropRetired(): void {
    this.#retired = [];
  }

  /** The published key set (RFC 7517): the current key first, then the retired ones. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const current = await this.current();
    return { keys: [current.publicJwk, ...this.#retired.map((k) => k.publicJwk)] };
  }

  async sign(
    payload: JWTPayload,
    options: { key?: 'current' | 'untrusted'; typ?: string; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const key = options.key === 'untrusted' ? await this.untrusted() : await this.current();
    // An untrusted key still claims the current kid, as a forger would.
    const kid = options.key === 'untrusted' ? (await this.current()).kid : key.kid;
    return new SignJWT(payload)
      .setProtectedHeader({
        alg: key.alg,
        kid,
        ...(options.typ ? { typ: options.typ } : {}),
        ...options.header,
      })
      .sign(key.privateKey);
  }

  reset(): void {
    this.#retired = [];
  }
}
