import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { Level } from '../reports/model.ts';
import type { Capability, CaseDef, Expectation, Step, SuiteDef } from './suite.ts';

/** A suite file that cannot be used: which file, which line, which field, and why. */
export class SuiteError extends Error {
  readonly code = 'ERR_SUITE_INVALID';
  readonly file: string;
  readonly line: number | undefined;
  readonly field: string;
  constructor(file: string, line: number | undefined, field: string, message: string) {
    super(`${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'SuiteError';
    this.file = file;
    this.line = line;
    this.field = field;
  }
}

/** The bundled suites and their schema. */
export const suitesDir = fileURLToPath(new URL('../suites/', import.meta.url));
export const suiteSchemaPath = join(suitesDir, 'suite.schema.json');

const STEP_KEYS = ['as', 'title', 'timeout_ms', 'when'];

let validator: ValidateFunction | undefined;
function validate() {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    validator = ajv.compile(JSON.parse(readFileSync(suiteSchemaPath, 'utf8')));
  }
  return validator;
}

function pointerToPath(pointer: string): Array<string | number> {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function fieldName(path: Array<string | number>): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    '',
  );
}

function parseStep(raw: Record<string, unknown>, line: number | undefined): Step {
  const kind = Object.keys(raw).find((k) => !STEP_KEYS.includes(k))!;
  const args = (raw[kind] ?? {}) as Record<string, unknown>;
  return {
    kind,
    args: typeof args === 'object' && args !== null ? args : {},
    ...(typeof raw['as'] === 'string' ? { as: raw['as'] } : {}),
    ...(typeof raw['title'] === 'string' ? { title: raw['title'] } : {}),
    ...(typeof raw['timeout_ms'] === 'number' ? { timeoutMs: raw['timeout_ms'] } : {}),
    ...(typeof raw['when'] === 'string' ? { when: raw['when'] } : {}),
    ...(line ? { line } : {}),
  };
}

function parseExpectation(
  raw: Record<string, unknown>,
  lineOf: (p: Array<string | number>) => number | undefined,
  path: Array<string | number>,
): Expectation {
  const tags = Array.isArray(raw['tags']) ? (raw['tags'] as string[]) : [];
  const line = lineOf(path);
  if (Array.isArray(raw['any_of'])) {
    return {
      kind: 'any_of',
      tags,
      alternatives: (raw['any_of'] as unknown[][]).map((group, g) =>
        group.map((e, i) =>
          parseExpectation(e as Record<string, unknown>, lineOf, [...path, 'any_of', g, i]),
        ),
      ),
      ...(line ? { line } : {}),
    };
  }
  const check = Object.keys(raw).find((k) => k !== 'tags')!;
  return {
    kind: 'check',
    check,
    args: (raw[check] ?? {}) as Record<string, unknown>,
    tags,
    ...(line ? { line } : {}),
  };
}

/** Expands `matrix` into one case per value (a single key; several keys multiply). */
function expandMatrix(
  matrix: Record<string, unknown> | undefined,
  personaIds: string[],
): Array<Record<string, unknown>> {
  if (!matrix) return [{}];
  let combos: Array<Record<string, unknown>> = [{}];
  for (const [key, spec] of Object.entries(matrix)) {
    const values = spec === '$personas' ? personaIds : (spec as unknown[]);
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

/**
 * Loads one suite file: YAML, validated against suites/suite.schema.json. An invalid suite is
 * refused with its file, line and the field at fault.
 */
export function loadSuiteText(text: string, file: string, personaIds: string[] = []): SuiteDef {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new SuiteError(file, e.linePos?.[0]?.line, '', `not valid YAML (${e.message.split('\n')[0]})`);
  }
  const lineOf = (path: Array<string | number>): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const data = doc.toJS() as unknown;
  if (!isMap(doc.contents))
    throw new SuiteError(file, 1, '', 'a suite is a mapping with suite, title and cases');
  const check = validate();
  if (!check(data)) {
    // Report the most specific error: the deepest path, preferring messages other than oneOf noise.
    const errors = [...(check.errors ?? [])].sort(
      (a, b) =>
        b.instancePath.length - a.instancePath.length ||
        Number(a.keyword === 'oneOf') - Number(b.keyword === 'oneOf'),
    );
    const e = errors[0]!;
    const path = pointerToPath(e.instancePath);
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      path.push(extra);
      message = 'is not a known field';
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    } else if (e.keyword === 'oneOf' || e.keyword === 'minProperties') {
      message = 'must hold exactly one step or check keyword';
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      message = `"${missing}" is missing`;
    }
    throw new SuiteError(file, lineOf(path), fieldName(path), message);
  }
  const suite = data as Record<string, unknown>;
  const seen = new Set<string>();
  const cases: CaseDef[] = [];
  for (const [i, rawCase] of (suite['cases'] as Array<Record<string, unknown>>).entries()) {
    for (const binding of expandMatrix(
      rawCase['matrix'] as Record<string, unknown> | undefined,
      personaIds,
    )) {
      const suffix = Object.keys(binding).length
        ? `[${Object.entries(binding)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(',')}]`
        : '';
      const id = `${suite['suite']}/${rawCase['id']}${suffix}`;
      if (seen.has(id))
        throw new SuiteError(
          file,
          lineOf(['cases', i, 'id']),
          `cases[${i}].id`,
          `"${rawCase['id']}" is repeated`,
        );
      seen.add(id);
      const caseLine = lineOf(['cases', i]);
      cases.push({
        id,
        title: String(rawCase['title']),
        ...(typeof rawCase['description'] === 'string' ? { description: rawCase['description'] } : {}),
        level: rawCase['level'] as Level,
        tags: rawCase['tags'] as string[],
        edges: (rawCase['edges'] as number[] | undefined) ?? [],
        requires: (rawCase['requires'] as Capability[] | undefined) ?? [],
        ...(rawCase['exclusive'] === true || rawCase['exclusive'] === 'last'
          ? { exclusive: rawCase['exclusive'] as true | 'last' }
          : {}),
        matrix: binding,
        steps: (rawCase['steps'] as Array<Record<string, unknown>>).map((s, j) =>
          parseStep(s, lineOf(['cases', i, 'steps', j])),
        ),
        expect: (rawCase['expect'] as Array<Record<string, unknown>>).map((e, j) =>
          parseExpectation(e, lineOf, ['cases', i, 'expect', j]),
        ),
        ...(caseLine ? { line: caseLine } : {}),
      });
    }
  }
  return {
    id: String(suite['suite']),
    title: String(suite['title']),
    ...(typeof suite['description'] === 'string' ? { description: suite['description'] } : {}),
    file,
    cases,
  };
}

export function loadSuiteFile(path: string, personaIds: string[] = []): SuiteDef {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SuiteError(path, undefined, '', 'cannot read the file');
  }
  return loadSuiteText(text, path, personaIds);
}

/** Loads every `*.yaml` of a directory (or one file), sorted by name; suite ids must be unique. */
export function loadSuites(paths: string[] = [suitesDir], personaIds: string[] = []): SuiteDef[] {
  const files: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new SuiteError(p, undefined, '', 'no such file or directory');
    }
    if (isDir) {
      for (const f of readdirSync(p).sort()) if (/\.ya?ml$/.test(f)) files.push(join(p, f));
    } else files.push(p);
  }
  const suites = files.map((f) => loadSuiteFile(f, personaIds));
  const ids = new Map<string, string>();
  for (const s of suites) {
    const other = ids.get(s.id);
    if (other) throw new SuiteError(s.file, 1, 'suite', `"${s.id}" is also the id of ${basename(other)}`);
    ids.set(s.id, s.file);
  }
  return suites;
}
