import type { CaseResult, CheckResult, Requirement, StepResult, SuiteResult } from '../reports/model.ts';
import { caseStatus } from '../reports/model.ts';
import { linkRequirement } from '../reports/requirements.ts';
import { CHECKS, type CheckOutcome } from './checks/index.ts';
import { CaseContext, type RunContext } from './context.ts';
import { RunnerError } from './errors.ts';
import { STEPS } from './steps/index.ts';
import type { CaseDef, Expectation, Step, SuiteDef } from './suite.ts';
import { lookup } from './template.ts';

export interface EngineEvents {
  onCaseStart?(suite: SuiteDef, def: CaseDef): void;
  onCaseEnd?(suite: SuiteDef, result: CaseResult): void;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new RunnerError('ERR_STEP_TIMEOUT', `${what} did not finish within ${ms} ms`)),
        ms,
      );
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runStep(ctx: CaseContext, step: Step): Promise<unknown> {
  if (step.kind === 'parallel') {
    const count = Number(step.args['count']);
    const inner = step.args['step'] as Record<string, unknown>;
    const kind = Object.keys(inner).find((k) => !['as', 'title', 'timeout_ms'].includes(k))!;
    const fn = STEPS[kind];
    if (!fn) throw new RunnerError('ERR_UNKNOWN_STEP', `unknown step "${kind}"`);
    return Promise.all(
      Array.from({ length: count }, () => fn(ctx, (inner[kind] ?? {}) as Record<string, unknown>)),
    );
  }
  const fn = STEPS[step.kind];
  if (!fn) throw new RunnerError('ERR_UNKNOWN_STEP', `unknown step "${step.kind}"`);
  return fn(ctx, step.args);
}

function truthy(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false && value !== '' && value !== 0;
}

/** A `when` condition: a reference that may be unset (then false). */
function expandLoose(value: string, vars: Record<string, unknown>): unknown {
  const m = value.match(/^\$\{([^}]+)\}$/);
  return m ? lookup(vars, m[1]!) : value;
}

function requirements(tags: string[]): Requirement[] {
  return [...new Set(tags)].map(linkRequirement);
}

function evaluate(ctx: CaseContext, expectation: Expectation, caseTags: string[]): CheckResult {
  if (expectation.kind === 'check') {
    const fn = CHECKS[expectation.check];
    let outcome: CheckOutcome;
    if (!fn) {
      outcome = {
        pass: false,
        description: expectation.check,
        message: `unknown check "${expectation.check}"`,
        exchanges: [],
      };
    } else {
      try {
        outcome = fn(ctx, expectation.args);
      } catch (error) {
        outcome = {
          pass: false,
          description: `${expectation.check} of ${String(expectation.args['of'] ?? '')}`,
          message: (error as Error).message,
          exchanges: [],
        };
      }
    }
    return {
      check: expectation.check,
      description: outcome.description,
      status: outcome.pass ? 'pass' : 'fail',
      requirements: requirements([...caseTags, ...expectation.tags]),
      ...('expected' in outcome ? { expected: outcome.expected } : {}),
      ...('actual' in outcome ? { actual: outcome.actual } : {}),
      ...(outcome.message && !outcome.pass ? { message: outcome.message } : {}),
      exchanges: [...new Set(outcome.exchanges)],
    };
  }
  const groups = expectation.alternatives.map((group) => group.map((e) => evaluate(ctx, e, [])));
  const passing = groups.findIndex((g) => g.every((c) => c.status === 'pass'));
  const pass = passing >= 0;
  return {
    check: 'any_of',
    description: `one of ${groups.length} acceptable outcomes: ${groups.map((g) => g.map((c) => c.description).join(' and ')).join(' | ')}`,
    status: pass ? 'pass' : 'fail',
    requirements: requirements([...caseTags, ...expectation.tags]),
    ...(pass
      ? { actual: `outcome ${passing + 1} holds` }
      : {
          message: groups
            .map((g, i) => `outcome ${i + 1}: ${g.find((c) => c.status === 'fail')?.message ?? 'failed'}`)
            .join('; '),
        }),
    exchanges: [...new Set(groups.flat().flatMap((c) => c.exchanges))],
  };
}

/** Runs one case in a fresh environment; never throws (a step error becomes a failed case). */
export async function runCase(def: CaseDef, run: RunContext): Promise<CaseResult> {
  const started = performance.now();
  const base = {
    id: def.id,
    title: def.title,
    level: def.level,
    requirements: requirements([...def.tags, ...def.edges.map((n) => `EDGE-${n}`)]),
  };
  const unmet = def.requires.filter((c) => !run.profile.capabilities.includes(c));
  if (unmet.length) {
    return {
      ...base,
      status: 'skipped',
      reason: unmet.map((c) => `${c}: ${run.profile.missing[c] ?? 'not available'}`).join('; '),
      durationMs: 0,
      steps: [],
      checks: [],
      exchanges: [],
    };
  }
  const vars: Record<string, unknown> = {
    server: {
      mcp: run.target,
      resource: run.profile.resource,
      issuer: run.profile.issuer,
      as: run.profile.authorizationServer ?? {},
      prm: run.profile.protectedResource ?? {},
    },
    idp: { url: run.idpUrl, provider: run.upstream },
    redirect_uri: run.redirectUri,
    matrix: def.matrix,
    ...def.matrix,
  };
  const ctx = new CaseContext(run, vars);
  if (run.idpUrl) {
    try {
      const res = await run.fetch(`${run.idpUrl}/_mock/journal?since=999999999`);
      vars['journal_mark'] = ((await res.json()) as { last_seq: number }).last_seq;
    } catch {
      vars['journal_mark'] = 0;
    }
  }
  const steps: StepResult[] = [];
  let errored: string | undefined;
  // A step found the case does not apply (ERR_NOT_APPLICABLE): skipped with its reason.
  let notApplicable: string | undefined;
  for (const [i, step] of def.steps.entries()) {
    const name = step.as ?? `${step.kind}#${i + 1}`;
    ctx.step = name;
    const t0 = performance.now();
    if (step.when !== undefined && !truthy(expandLoose(step.when, vars))) {
      steps.push({
        step: name,
        title: step.title ?? step.kind,
        status: 'skipped',
        message: `${step.when} is not set`,
        durationMs: 0,
      });
      continue;
    }
    try {
      const value = await withTimeout(
        runStep(ctx, step),
        step.timeoutMs ?? run.stepTimeoutMs,
        `step "${name}"`,
      );
      if (step.as) vars[step.as] = value;
      steps.push({
        step: name,
        title: step.title ?? step.kind,
        status: 'ok',
        durationMs: Math.round(performance.now() - t0),
      });
    } catch (error) {
      if (error instanceof RunnerError && error.code === 'ERR_NOT_APPLICABLE') {
        notApplicable = error.message;
        steps.push({
          step: name,
          title: step.title ?? step.kind,
          status: 'skipped',
          message: error.message,
          durationMs: Math.round(performance.now() - t0),
        });
        break;
      }
      errored = `step "${name}" failed: ${(error as Error).message}`;
      steps.push({
        step: name,
        title: step.title ?? step.kind,
        status: 'error',
        message: (error as Error).message,
        durationMs: Math.round(performance.now() - t0),
      });
      break;
    }
  }
  const checks = errored || notApplicable ? [] : def.expect.map((e) => evaluate(ctx, e, def.tags));
  await removeFaults(ctx);
  await ctx.close();
  return {
    ...base,
    status: notApplicable ? 'skipped' : caseStatus(def.level, checks, errored !== undefined),
    ...(errored ? { reason: errored } : notApplicable ? { reason: notApplicable } : {}),
    durationMs: Math.round(performance.now() - started),
    steps,
    checks,
    exchanges: ctx.exchanges(),
  };
}

/** A case leaves no fault of its own behind (one the server never triggered would hit a later case). */
async function removeFaults(ctx: CaseContext): Promise<void> {
  if (!ctx.run.idpUrl) return;
  for (const id of ctx.faultIds.splice(0)) {
    try {
      const res = await ctx.run.fetch(`${ctx.run.idpUrl}/_mock/faults/${id}`, { method: 'DELETE' });
      await res.body?.cancel();
    } catch {
      // The IdP is gone; the next case that needs it reports that.
    }
  }
}

/**
 * Runs every case of every suite, `concurrency` at a time (exclusive cases one by one after the
 * rest), in suite order in the results.
 */
export async function runSuites(
  suites: SuiteDef[],
  run: RunContext,
  options: { concurrency: number; events?: EngineEvents },
): Promise<SuiteResult[]> {
  const all = suites.flatMap((suite) => suite.cases.map((def) => ({ suite, def })));
  // Cases that change the mock IdP's shared state (faults) run alone, after the others.
  const jobs = all.filter((j) => !j.def.exclusive);
  // `exclusive: last` cases (they spend a budget of the server) come after the other exclusive ones.
  const alone = all
    .filter((j) => j.def.exclusive)
    .sort((a, b) => Number(a.def.exclusive === 'last') - Number(b.def.exclusive === 'last'));
  const results = new Map<string, CaseResult>();
  const runJob = async (job: (typeof all)[number]) => {
    options.events?.onCaseStart?.(job.suite, job.def);
    const result = await runCase(job.def, run);
    results.set(job.def.id, result);
    options.events?.onCaseEnd?.(job.suite, result);
  };
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await runJob(jobs[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, jobs.length)) }, worker));
  for (const job of alone) await runJob(job);
  return suites.map((suite) => ({
    id: suite.id,
    title: suite.title,
    file: suite.file,
    cases: suite.cases.map((def) => results.get(def.id)!),
  }));
}
