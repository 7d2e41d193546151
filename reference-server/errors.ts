/**
 * Error classes of the reference server's foundation layers. Each class has a closed set of string
 * codes (the jose `src/util/errors.ts` model): callers branch on `code`, tests assert `code` and
 * `message` together, and messages are short and name the value at fault.
 */

/** An error with a closed set of string codes; each subclass fixes the set and its `name`. */
class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(name: string, code: Code, message: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

/** Settings could not be loaded: a bad file, an unknown key, a missing or malformed field. */
export type ConfigErrorCode =
  | 'ERR_CONFIG_FILE'
  | 'ERR_CONFIG_PROFILE'
  | 'ERR_CONFIG_UNKNOWN_KEY'
  | 'ERR_CONFIG_UNKNOWN_AUTH'
  | 'ERR_CONFIG_MISSING'
  | 'ERR_CONFIG_INVALID';

export class ConfigError extends CodedError<ConfigErrorCode> {
  constructor(code: ConfigErrorCode, message: string) {
    super('ConfigError', code, message);
  }
}

/** A store operation broke a constraint or used a closed store. */
export type StoreErrorCode =
  | 'ERR_STORE_CONFLICT'
  | 'ERR_STORE_NOT_FOUND'
  | 'ERR_STORE_CLOSED'
  | 'ERR_STORE_SCHEMA';

export class StoreError extends CodedError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string) {
    super('StoreError', code, message);
  }
}

/** An access token could not be issued or did not verify. */
export type TokenErrorCode =
  | 'ERR_JWT_MALFORMED'
  | 'ERR_JWT_ALG'
  | 'ERR_JWT_KID'
  | 'ERR_JWT_SIGNATURE'
  | 'ERR_JWT_TYP'
  | 'ERR_JWT_ISS'
  | 'ERR_JWT_AUD'
  | 'ERR_JWT_EXPIRED'
  | 'ERR_JWT_NOT_YET_VALID'
  | 'ERR_JWT_TOKEN_USE'
  | 'ERR_JWT_CLAIM'
  | 'ERR_JWT_RESERVED_CLAIM'
  | 'ERR_KEY_INVALID';

export class TokenError extends CodedError<TokenErrorCode> {
  constructor(code: TokenErrorCode, message: string) {
    super('TokenError', code, message);
  }
}

/** A sealed value could not be opened, or the sealing secret is unusable. */
export type SealErrorCode =
  | 'ERR_SEAL_SECRET'
  | 'ERR_SEAL_MALFORMED'
  | 'ERR_SEAL_VERSION'
  | 'ERR_SEAL_KEY_UNKNOWN'
  | 'ERR_SEAL_AUTH';

export class SealError extends CodedError<SealErrorCode> {
  constructor(code: SealErrorCode, message: string) {
    super('SealError', code, message);
  }
}

/** A redirect-URI policy pattern is unusable (it is configuration, so this is raised at load). */
export type RedirectPolicyErrorCode = 'ERR_REDIRECT_PATTERN';

export class RedirectPolicyError extends CodedError<RedirectPolicyErrorCode> {
  constructor(code: RedirectPolicyErrorCode, message: string) {
    super('RedirectPolicyError', code, message);
  }
}
