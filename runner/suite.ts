import type { Level } from '../reports/model.ts';

/**
 * What a case needs of the server; the probe finds out which the server has, and a case whose
 * needs are not met is SKIPPED with the reason.
 */
export type Capability =
  | 'oauth'
  | 'authorization-server'
  /** An authorization server that is not the mock IdP itself (the server's own, or its operator's). */
  | 'own-authorization-server'
  | 'dcr'
  | 'refresh'
  | 'revocation'
  | 'consent'
  | 'upstream'
  | 'user-store'
  | 'identity-probe'
  | 'jwt-access-tokens'
  | 'idp-trusted'
  | 'required-scopes'
  | 'claims-passthrough'
  /** The agent can send navigations without browser-added headers (the plain-HTTP agent). */
  | 'raw-navigation-headers'
  | 'oidc-upstream';

/** One step: a keyword of the vocabulary with its arguments. */
export interface Step {
  kind: string;
  args: Record<string, unknown>;
  /** Where the result goes on the blackboard. */
  as?: string;
  title?: string;
  timeoutMs?: number;
  /** Run the step only when this reference is set (`\${auth.code}`); otherwise it is skipped. */
  when?: string;
  /** Source position, for messages. */
  line?: number;
}

/** One check: a keyword of the check vocabulary with its arguments, or alternatives. */
export type Expectation =
  | { kind: 'check'; check: string; args: Record<string, unknown>; tags: string[]; line?: number }
  | { kind: 'any_of'; alternatives: Expectation[][]; tags: string[]; line?: number };

export interface CaseDef {
  /** `suite/case`, or `suite/case[value]` for an expanded matrix case. */
  id: string;
  title: string;
  description?: string;
  level: Level;
  tags: string[];
  edges: number[];
  requires: Capability[];
  /**
   * The case changes shared state (mock IdP faults) or spends a budget of the server other cases
   * need: it runs alone, after the others, and the IdP's faults are cleared when it ends.
   * `last`: after the other exclusive cases too (a spent budget would fail them).
   */
  exclusive?: boolean | 'last';
  /** Values the matrix expansion bound (`${matrix.persona}`). */
  matrix: Record<string, unknown>;
  steps: Step[];
  expect: Expectation[];
  line?: number;
}

export interface SuiteDef {
  id: string;
  title: string;
  description?: string;
  file: string;
  cases: CaseDef[];
}
