/** The application user a request acts as. */
export interface AppUser {
  id: string;
  email?: string;
  login?: string;
  groups: string[];
}

/** Who is calling the MCP endpoint, as the auth layer established it. */
export interface Principal {
  user: AppUser;
  /** The backend (`auth` setting) that authenticated the request. */
  backend: string;
  /** The OAuth client the token was issued to, when there is one. */
  clientId: string | undefined;
  scopes: string[];
  /** Claims passed through from the verified upstream identity (or the IdP's token). */
  claims: Record<string, unknown>;
  /** Expiry of the presented token (epoch seconds), when known. */
  expiresAt: number | undefined;
}

/** Why a bearer token was refused (RFC 6750 3.1). */
export class TokenRejected extends Error {
  readonly code: 'invalid_token' | 'invalid_request' | 'insufficient_scope';
  readonly scope: string | undefined;
  constructor(code: TokenRejected['code'], message: string, scope?: string) {
    super(message);
    this.name = 'TokenRejected';
    this.code = code;
    this.scope = scope;
  }
}

/** Turns a bearer token into a Principal, or throws TokenRejected. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}
