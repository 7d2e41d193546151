/**
 * The public entry of mcp-auth-conformance: run the suites against a server from your own tests,
 * write the reports, and use the mock IdP. Sub-entries: `mcp-auth-conformance/mock-idp` (the
 * whole mock IdP API), `mcp-auth-conformance/reports`, `mcp-auth-conformance/mock-idp/preload`.
 */

export { createMockIdp, MockIdp, startMockIdp } from './mock-idp/index.ts';
export { createReporters, REPORTER_NAMES } from './reports/index.ts';
export type {
  CaseResult,
  CaseStatus,
  CheckResult,
  Exchange,
  Level,
  RunResult,
  SuiteResult,
  Summary,
} from './reports/model.ts';
export { RESULT_SCHEMA_VERSION } from './reports/model.ts';
export type { BrowserRule, IdentityProbe, StaticClient } from './runner/context.ts';
export { RunnerError, type RunnerErrorCode } from './runner/errors.ts';
export { loadSuiteFile, loadSuites, SuiteError, suitesDir } from './runner/load.ts';
export { type ConformanceOptions, runConformance, TOOL, WHOAMI_PROBE } from './runner/run.ts';
export type { Capability, CaseDef, SuiteDef } from './runner/suite.ts';
