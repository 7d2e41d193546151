import { RunnerError } from './errors.ts';

const WHOLE = /^\$\{([^}]+)\}$/;
const PART = /\$\{([^}]+)\}/g;

/** Splits `a.b[0].c-d` into keys. */
function segments(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of path.trim().split('.')) {
    const m = part.match(/^([^[\]]*)((?:\[\d+\])*)$/);
    if (!m) throw new RunnerError('ERR_UNKNOWN_REFERENCE', `"${path}" is not a reference`);
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Reads `path` from the blackboard; undefined when a step on the way is missing. */
export function lookup(vars: Record<string, unknown>, path: string): unknown {
  let node: unknown = vars;
  for (const key of segments(path)) {
    if (node === null || node === undefined) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

/** Like lookup, but a missing value is an error naming the reference. */
export function require(vars: Record<string, unknown>, path: string): unknown {
  const value = lookup(vars, path);
  if (value === undefined) throw new RunnerError('ERR_UNKNOWN_REFERENCE', `\${${path}} is not set`);
  return value;
}

/**
 * Expands `${ref}` in a value: a string that is exactly one reference gives the referenced value
 * itself (an object, a number); references inside longer strings are stringified. Objects and
 * arrays are expanded recursively.
 */
export function expand(value: unknown, vars: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = value.match(WHOLE);
    if (whole) return require(vars, whole[1]!);
    return value.replace(PART, (_, path: string) => {
      const v = require(vars, path);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => expand(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, vars)]));
  }
  return value;
}

export function expandString(value: unknown, vars: Record<string, unknown>, what: string): string {
  const out = expand(value, vars);
  if (typeof out !== 'string') throw new RunnerError('ERR_STEP_FAILED', `${what} must be a string`);
  return out;
}
