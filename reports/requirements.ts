/**
 * Requirement tags -> links: one prefix table, in the manner of the OpenID Foundation conformance
 * suite (reference/conformance-patterns.md). A tag is `PREFIX-SECTION`; unknown prefixes get no URL.
 *
 * Verified with the search tool: the MCP 2025-06-18 pages live at
 * modelcontextprotocol.io/specification/2025-06-18/basic/{authorization,security_best_practices}
 * and their headings are anchors in kebab case (#token-audience-binding-and-validation,
 * #authorization-server-discovery, #confused-deputy-problem, #token-passthrough). rfc-editor.org's
 * HTML renderings anchor sections as #section-N.N and appendices as #appendix-A.N.
 */
import { readFileSync } from 'node:fs';
import type { Requirement } from './model.ts';

/** The MCP specification revision the links point at. */
export const MCP_SPEC_REVISION = '2025-06-18';
const MCP_BASE = `https://modelcontextprotocol.io/specification/${MCP_SPEC_REVISION}/basic`;

/** `MCP-<page>` and `MCP-<page>-<anchor>`: the pages of the MCP specification a tag may name. */
const MCP_PAGES: Record<string, string> = {
  authorization: `${MCP_BASE}/authorization`,
  security: `${MCP_BASE}/security_best_practices`,
  transports: `${MCP_BASE}/transports`,
  lifecycle: `${MCP_BASE}/lifecycle`,
};

/**
 * Where the project's security-edges list is published (README section `#security-edges`). Taken
 * from package.json `homepage` (or `repository`) when set, else the package's npm page.
 */
export const SECURITY_EDGES_URL = `${projectReadmeUrl()}#security-edges`;

function projectReadmeUrl(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      name?: string;
      homepage?: string;
      repository?: string | { url?: string };
    };
    if (pkg.homepage) return pkg.homepage.replace(/#.*$/, '');
    const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
    if (repo) return repo.replace(/^git\+/, '').replace(/\.git$/, '');
    return `https://www.npmjs.com/package/${pkg.name ?? 'mcp-auth-conformance'}`;
  } catch {
    return 'https://www.npmjs.com/package/mcp-auth-conformance';
  }
}

/** rfc-editor.org anchors: numbered sections `#section-4.6`, lettered appendices `#appendix-A.1`. */
function rfcAnchor(section: string): string {
  return /^[A-Z](\.|$)/.test(section) ? `#appendix-${section}` : `#section-${section}`;
}

interface PrefixRule {
  /** Matches the whole tag; group 1 (optional) is the part after the prefix. */
  pattern: RegExp;
  url: (match: RegExpExecArray) => string | undefined;
}

/** The prefix table. Order matters only where patterns could overlap (none do today). */
export const REQUIREMENT_PREFIXES: readonly PrefixRule[] = [
  {
    // RFC7636-4.6, RFC9700-2.1.1, RFC6749-A.1, RFC8707
    pattern: /^RFC(\d{3,5})(?:-([0-9A-Z][0-9A-Za-z.]*))?$/,
    url: (m) => `https://www.rfc-editor.org/rfc/rfc${Number(m[1])}${m[2] ? rfcAnchor(m[2]) : ''}`,
  },
  {
    // The OAuth 2.1 draft the MCP specification builds on.
    pattern: /^OAUTH21(?:-([0-9A-Z][0-9A-Za-z.]*))?$/,
    url: (m) =>
      `https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1${m[1] ? `#section-${m[1]}` : ''}`,
  },
  {
    pattern: /^OIDCC(?:-([0-9][0-9.]*))?$/,
    url: (m) => `https://openid.net/specs/openid-connect-core-1_0.html${m[1] ? `#section-${m[1]}` : ''}`,
  },
  {
    pattern: /^OIDCD(?:-([0-9][0-9.]*))?$/,
    url: (m) => `https://openid.net/specs/openid-connect-discovery-1_0.html${m[1] ? `#section-${m[1]}` : ''}`,
  },
  {
    pattern: /^OIDCR(?:-([0-9][0-9.]*))?$/,
    url: (m) =>
      `https://openid.net/specs/openid-connect-registration-1_0.html${m[1] ? `#section-${m[1]}` : ''}`,
  },
  {
    // MCP-authorization, MCP-authorization-token-audience-binding-and-validation, MCP-security-token-passthrough
    pattern: /^MCP-([a-z]+)(?:-([a-z0-9][a-z0-9-]*))?$/i,
    url: (m) => {
      const page = MCP_PAGES[m[1]!.toLowerCase()];
      if (!page) return undefined;
      return m[2] ? `${page}#${m[2].toLowerCase()}` : page;
    },
  },
  {
    // EDGE-12: an item of the project's security-edges list.
    pattern: /^EDGE-(\d+)$/,
    url: () => SECURITY_EDGES_URL,
  },
];

/**
 * The URL a requirement tag points at, or undefined for an unknown prefix.
 * @example requirementUrl('RFC7636-4.6') // https://www.rfc-editor.org/rfc/rfc7636#section-4.6
 */
export function requirementUrl(tag: string): string | undefined {
  for (const rule of REQUIREMENT_PREFIXES) {
    const match = rule.pattern.exec(tag);
    if (match) return rule.url(match);
  }
  return undefined;
}

/** A tag as a Requirement, with its URL when the prefix is known. */
export function linkRequirement(tag: string): Requirement {
  const url = requirementUrl(tag);
  return url ? { tag, url } : { tag };
}

/** Fills in the URL of requirements that carry none (a reporter never trusts the runner to have). */
export function withUrls(requirements: readonly Requirement[]): Requirement[] {
  return requirements.map((r) => (r.url ? r : linkRequirement(r.tag)));
}
