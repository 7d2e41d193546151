import type { ClaimsSettings } from './config.ts';
import { RESERVED_CLAIMS } from './tokens/issuer.ts';

/** Registered JWT and OIDC protocol claims an upstream token carries that are never passed on. */
const PROTOCOL_CLAIMS = new Set([
  ...RESERVED_CLAIMS,
  'nonce',
  'at_hash',
  'c_hash',
  'typ',
  'ver',
  'uti',
  'rh',
  'aio',
  'sid',
  'token_use',
  'origin_jti',
  'event_id',
]);

/** What selects the claims of a verified upstream identity for our tokens (a Runtime part). */
export type ClaimsFilter = (
  upstream: Record<string, unknown>,
  settings: ClaimsSettings,
) => Record<string, unknown>;

/**
 * Selects the claims of a verified upstream identity to carry in our access token: the
 * allow-list (when set) minus the block-list, minus protocol and reserved claims, each at most
 * `max_bytes` of JSON; nested under one claim so nothing can overwrite `iss`, `aud`, `sub`,
 * `exp`, `scope`, `client_id` or the token type (security edge 31).
 */
export const passthroughClaims: ClaimsFilter = (upstream, settings) => {
  if (!settings.passthrough) return {};
  const selected: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (PROTOCOL_CLAIMS.has(name)) continue;
    if (settings.allow_list.length && !settings.allow_list.includes(name)) continue;
    if (settings.block_list.includes(name)) continue;
    if (value === undefined) continue;
    if (Buffer.byteLength(JSON.stringify(value)) > settings.max_bytes) continue;
    selected[name] = value;
  }
  return Object.keys(selected).length ? { [settings.claim]: selected } : {};
};
