/**
 * Structured logs: one JSON object a line on stderr. Values under secret-looking keys, bearer
 * and basic credentials, and JWT-shaped strings are redacted before anything is written.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const SECRET_KEY = /secret|token|password|verifier|cookie|authorization|assertion|^code$|^state$/i;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi;

/** Redacts secrets from a value destined for a log line. */
export function redact(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key)) return '[redacted]';
    return value.replace(JWT, '[redacted-jwt]').replace(CREDENTIAL, '$1 [redacted]');
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return {
    log(level, event, fields = {}) {
      if (ORDER[level] < min) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, event, ...(redact(fields) as object) }));
    },
  };
}

export const silentLogger: Logger = { log: () => undefined };
