/**
 * The local certificate authority of the intercepting proxy: one CA kept on disk and reused,
 * and leaf certificates for the mocked hostnames, made on demand.
 *
 * Certificates are encoded here with a small DER writer and signed with node:crypto (ECDSA
 * P-256, SHA-256). @peculiar/x509 would do the same job but needs a global Reflect metadata
 * polyfill (tsyringe) that this package does not ship, and the preload must not patch globals.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1 (certificate fields)
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.2.1 (the extensions used below)
 * @see https://www.itu.int/rec/T-REC-X.690 (DER)
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { MockIdpError } from './errors.ts';

// --- DER writer (X.690): only the types a certificate needs ---

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octetString = (value: Buffer) => tlv(0x04, value);
const utf8String = (value: string) => tlv(0x0c, Buffer.from(value, 'utf8'));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);
const derTrue = Buffer.from([0x01, 0x01, 0xff]);

/** A non-negative INTEGER from big-endian bytes (a leading 0x00 keeps it positive). */
function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const group: number[] = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) group.unshift(0x80 | (n & 0x7f));
    bytes.push(...group);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A BIT STRING of whole bytes, or of named bits with `unused` trailing bits. */
function bitString(value: Buffer, unused = 0): Buffer {
  return tlv(0x03, Buffer.from([unused]), value);
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

function name(attributes: Array<[string, string]>): Buffer {
  return sequence(...attributes.map(([type, value]) => set(sequence(oid(type), utf8String(value)))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [derTrue] : []), octetString(value));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

/** Key identifier: the leftmost 160 bits of SHA-256 over the SubjectPublicKeyInfo (RFC 7093 style). */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

interface CertificateInput {
  subject: Buffer;
  issuer: Buffer;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

function certificatePem(input: CertificateInput): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(serial),
    algorithm,
    input.issuer,
    sequence(time(input.notBefore), time(input.notAfter)),
    input.subject,
    input.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        ...input.extensions,
        extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(input.publicKey))),
        extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, input.issuerKeyId))),
      ),
    ),
  );
  // ECDSA signatures from node:crypto are DER Ecdsa-Sig-Value, as X.509 wants (RFC 5758 3.2).
  const signature = sign('sha256', tbs, input.signingKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

// --- the CA on disk ---

const CA_CERT = 'ca-cert.pem';
const CA_KEY = 'ca-key.pem';
const DAY = 86_400_000;

/** `$XDG_CACHE_HOME/mcp-auth-conformance/ca`, or `~/.cache/mcp-auth-conformance/ca`. */
export function defaultCaDir(): string {
  const cache = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(cache, 'mcp-auth-conformance', 'ca');
}

export interface LeafCertificate {
  hostname: string;
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority {
  dir: string;
  /** The CA certificate (PEM), for SSL_CERT_FILE, NODE_EXTRA_CA_CERTS or curl --cacert. */
  certPath: string;
  certPem: string;
  /** Whether this call made the CA (false when an existing one was reused). */
  created: boolean;
  /** A leaf certificate for exactly `hostname`, signed by the CA. */
  issue(hostname: string): LeafCertificate;
}

function newCaFiles(): { certPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const subject = name([
    [OID.organization, 'mcp-auth-conformance'],
    [OID.commonName, `mcp-auth-conformance local CA ${new Date(now).toISOString().slice(0, 10)}`],
  ]);
  const certPem = certificatePem({
    subject,
    issuer: subject,
    publicKey,
    signingKey: privateKey,
    issuerKeyId: keyIdentifier(publicKey),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 10 * 365 * DAY),
    extensions: [
      extension(OID.basicConstraints, true, sequence(derTrue, unsignedInteger(Buffer.from([0])))),
      // digitalSignature, keyCertSign, cRLSign
      extension(OID.keyUsage, true, bitString(Buffer.from([0x86]), 1)),
    ],
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem };
}

/**
 * Writes a new CA into `dir` unless one is there. The files are made in a sibling directory and
 * renamed into place, so two processes starting at once end up sharing one CA.
 */
function ensureCaFiles(dir: string): boolean {
  if (existsSync(join(dir, CA_CERT)) && existsSync(join(dir, CA_KEY))) return false;
  mkdirSync(dirname(dir), { recursive: true });
  const staging = mkdtempSync(`${dir}.tmp-`);
  const { certPem, keyPem } = newCaFiles();
  writeFileSync(join(staging, CA_KEY), keyPem, { mode: 0o600 });
  writeFileSync(join(staging, CA_CERT), certPem, { mode: 0o644 });
  try {
    renameSync(staging, dir); // replaces `dir` only when it is missing or empty
    return true;
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(join(dir, CA_CERT)) && existsSync(join(dir, CA_KEY))) return false;
    throw new MockIdpError(
      'ERR_PROXY',
      `cannot create the CA in "${dir}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/** Loads the CA kept in `dir`, making it on first use. */
export function loadOrCreateCa(dir: string = defaultCaDir()): CertificateAuthority {
  const created = ensureCaFiles(dir);
  const certPath = join(dir, CA_CERT);
  let certPem: string;
  let caCert: X509Certificate;
  let caKey: KeyObject;
  try {
    certPem = readFileSync(certPath, 'utf8');
    caCert = new X509Certificate(certPem);
    caKey = createPrivateKey(readFileSync(join(dir, CA_KEY), 'utf8'));
  } catch (error) {
    throw new MockIdpError(
      'ERR_PROXY',
      `the CA in "${dir}" is unreadable (${(error as Error).message}); delete the directory to make a new one`,
    );
  }
  if (!caCert.ca || !caCert.checkPrivateKey(caKey)) {
    throw new MockIdpError('ERR_PROXY', `"${certPath}" is not a CA matching "${CA_KEY}"; delete "${dir}"`);
  }
  const caNotAfter = new Date(caCert.validTo).getTime();
  if (caNotAfter < Date.now() + DAY) {
    throw new MockIdpError(
      'ERR_PROXY',
      `the CA in "${dir}" has expired; delete the directory to make a new one`,
    );
  }
  const caPublic = caCert.publicKey;
  // A leaf's issuer must be byte-equal to the CA's subject (RFC 5280 4.1.2.4), so copy it.
  const issuer = subjectDer(caCert.raw);
  // One key for every leaf of this process: leaves live in memory only.
  let leafKeys: { publicKey: KeyObject; privateKey: KeyObject; keyPem: string } | undefined;
  return {
    dir,
    certPath,
    certPem,
    created,
    issue(hostname: string): LeafCertificate {
      if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i.test(hostname)) {
        throw new MockIdpError('ERR_PROXY', `"${hostname}" is not a hostname`);
      }
      if (!leafKeys) {
        const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        leafKeys = { ...pair, keyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
      }
      const now = Date.now();
      const host = hostname.toLowerCase();
      const leafPem = certificatePem({
        subject: name([[OID.commonName, host]]),
        issuer,
        publicKey: leafKeys.publicKey,
        signingKey: caKey,
        issuerKeyId: keyIdentifier(caPublic),
        notBefore: new Date(now - DAY),
        // Short-lived (browsers cap leaves at 398 days), and never past the CA.
        notAfter: new Date(Math.min(now + 30 * DAY, caNotAfter)),
        extensions: [
          extension(OID.basicConstraints, true, sequence()),
          extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
          extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, sequence(tlv(0x82, Buffer.from(host, 'ascii')))),
        ],
      });
      return { hostname: host, certPem: leafPem, keyPem: leafKeys.keyPem };
    },
  };
}

/** The elements of a DER SEQUENCE (or other constructed value) starting at `offset`. */
function derElements(der: Buffer, offset = 0): Buffer[] {
  const header = (at: number): { start: number; end: number } => {
    const first = der[at + 1]!;
    if (first < 0x80) return { start: at + 2, end: at + 2 + first };
    const count = first & 0x7f;
    let length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[at + 2 + i]!;
    return { start: at + 2 + count, end: at + 2 + count + length };
  };
  const outer = header(offset);
  const items: Buffer[] = [];
  for (let at = outer.start; at < outer.end; ) {
    const { end } = header(at);
    items.push(der.subarray(at, end));
    at = end;
  }
  return items;
}

/** The subject Name of a certificate, as its DER bytes (the sixth field of TBSCertificate). */
function subjectDer(certificate: Buffer): Buffer {
  const tbs = derElements(certificate)[0];
  const subject = tbs ? derElements(tbs)[5] : undefined;
  if (!subject) throw new MockIdpError('ERR_PROXY', 'the CA certificate has no subject');
  return subject;
}
