import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { fixtureRun, RUNNER_SECRETS } from './fixtures/run.ts';
import { RESULT_SCHEMA_VERSION } from './model.ts';
import { createRedactor, redactRun } from './redact.ts';

const schema = JSON.parse(readFileSync(new URL('./result.schema.json', import.meta.url), 'utf8'));

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // RFC 3339 date-time and URI reference, checked loosely (ajv-formats is not a dependency).
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i);
  ajv.addFormat('uri-reference', /^[^\s]*$/);
  return ajv.compile(schema);
}

describe('result.schema.json', () => {
  it('is a draft 2020-12 schema whose $id and schemaVersion carry the model version', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe(`urn:mcp-auth-conformance:result-schema:${RESULT_SCHEMA_VERSION}`);
    expect(schema.properties.schemaVersion.const).toBe(RESULT_SCHEMA_VERSION);
  });

  it('accepts the fixture run, raw and redacted', () => {
    const validate = validator();
    const run = fixtureRun();
    expect(validate(run), JSON.stringify(validate.errors)).toBe(true);
    expect(
      validate(redactRun(run, createRedactor({ secrets: RUNNER_SECRETS }))),
      JSON.stringify(validate.errors),
    ).toBe(true);
  });

  it.each([
    [
      'no summary',
      (r: Record<string, unknown>) => delete r['summary'],
      '',
      "must have required property 'summary'",
    ],
    [
      'another schema version',
      (r: Record<string, unknown>) => (r['schemaVersion'] = '2.0.0'),
      '/schemaVersion',
      'must be equal to constant',
    ],
    [
      'exit code 3',
      (r: Record<string, unknown>) => (r['exitCode'] = 3),
      '/exitCode',
      'must be equal to one of the allowed values',
    ],
    [
      'a bad start time',
      (r: Record<string, unknown>) => (r['startedAt'] = 'yesterday'),
      '/startedAt',
      'must match format "date-time"',
    ],
    [
      'an unknown top-level field',
      (r: Record<string, unknown>) => (r['extra'] = 1),
      '',
      'must NOT have additional properties',
    ],
    [
      'an unknown case status',
      (r: Record<string, unknown>) =>
        ((r as unknown as ReturnType<typeof fixtureRun>).suites[0]!.cases[0]!.status = 'bogus' as 'passed'),
      '/suites/0/cases/0/status',
      'must be equal to one of the allowed values',
    ],
    [
      'a check without requirements',
      (r: Record<string, unknown>) =>
        delete (
          (r as unknown as ReturnType<typeof fixtureRun>).suites[0]!.cases[0]!.checks[0] as unknown as Record<
            string,
            unknown
          >
        )['requirements'],
      '/suites/0/cases/0/checks/0',
      "must have required property 'requirements'",
    ],
    [
      'a header that is not a string',
      (r: Record<string, unknown>) =>
        ((
          (r as unknown as ReturnType<typeof fixtureRun>).suites[0]!.cases[0]!.exchanges[0]!.request
            .headers as Record<string, unknown>
        )['x'] = 1),
      '/suites/0/cases/0/exchanges/0/request/headers/x',
      'must be string',
    ],
    [
      'a negative count',
      (r: Record<string, unknown>) => ((r as unknown as ReturnType<typeof fixtureRun>).summary.passed = -1),
      '/summary/passed',
      'must be >= 0',
    ],
  ])('refuses %s', (_label, breakIt, path, message) => {
    const validate = validator();
    const run = fixtureRun() as unknown as Record<string, unknown>;
    breakIt(run);
    expect(validate(run)).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ instancePath: path, message }));
  });
});
