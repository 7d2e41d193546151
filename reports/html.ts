/**
 * The HTML reporter (`report.html`): one self-contained page, readable without JavaScript (every
 * suite and case is rendered on the server side, cases as `<details>`), with filter buttons by
 * status and a search box when scripts run. No external requests: CSS and JS are inline and a
 * Content-Security-Policy (`default-src 'none'`, the inline style and script allowed by hash)
 * forbids any fetch. The (redacted) RunResult is embedded as JSON in a
 * `<script type="application/json">` element, with `<`, `>`, `&`, U+2028 and U+2029 written as
 * \u escapes so no body text can close the element.
 * @see https://html.spec.whatwg.org/multipage/scripting.html#restrictions-for-contents-of-script-elements
 * @see https://www.w3.org/TR/wai-aria-1.2/#aria-pressed (toggle buttons)
 * @see https://www.w3.org/TR/CSP3/#grammardef-hash-source
 */
import { createHash } from 'node:crypto';
import {
  caseSearchText,
  errorMessage,
  exitCodeMeaning,
  failingChecks,
  formatDuration,
  formatValue,
  isErrored,
  STATUS_ORDER,
  showControlChars,
  suiteSummary,
  truncate,
  verdictOf,
} from './describe.ts';
import type {
  CaseResult,
  CaseStatus,
  CheckResult,
  Exchange,
  Requirement,
  RunResult,
  SuiteResult,
} from './model.ts';
import { createRedactor, type Redactor, redactRun } from './redact.ts';
import {
  type CaseInfo,
  type Reporter,
  type ReporterOptions,
  type RunStartInfo,
  requireOutDir,
  type SuiteInfo,
  writeReportFile,
} from './reporter.ts';
import { withUrls } from './requirements.ts';

export const HTML_FILE = 'report.html';
/** id of the `<script type="application/json">` element holding the run. */
export const DATA_ELEMENT_ID = 'report-data';

/** Longest body shown in an exchange. */
const MAX_BODY_CHARS = 50_000;

/** Escapes text for element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return showControlChars(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON that is safe inside a `<script>` element: nothing in it can end the element or a comment. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const FILTER_LABEL: Record<CaseStatus | 'all', string> = {
  all: 'All',
  failed: 'Failed',
  warning: 'Warning',
  info: 'Info',
  skipped: 'Skipped',
  passed: 'Passed',
};

const STYLE = `
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--panel:#f6f8fa;--line:#d1d9e0;
--failed:#cf222e;--warning:#9a6700;--info:#0969da;--skipped:#6e7781;--passed:#1a7f37;--code:#eff2f5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#151b23;--line:#3d444d;
--failed:#ff7b72;--warning:#d29922;--info:#58a6ff;--skipped:#9198a1;--passed:#3fb950;--code:#1f2428}}
*{box-sizing:border-box}
[hidden]{display:none!important}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);border:0}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header,nav,main,footer{max-width:1200px;margin:0 auto;padding:0 1rem}
h1{font-size:1.5rem;margin:1rem 0 .25rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.25rem}
h3{font-size:.95rem;margin:1rem 0 .25rem}
h4{font-size:.85rem;margin:.5rem 0 .25rem;color:var(--muted)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
code{background:var(--code);padding:0 .25em;border-radius:4px}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.5rem;margin:.25rem 0;
overflow:auto;max-height:28rem;white-space:pre-wrap;word-break:break-all}
a{color:var(--info)}
.verdict{font-size:1.1rem;margin:.25rem 0}
.verdict strong{padding:.1rem .5rem;border-radius:4px;color:#fff}
.verdict-PASSED strong{background:var(--passed)}.verdict-FAILED strong,.verdict-ERROR strong{background:var(--failed)}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
.meta dt{color:var(--muted)}.meta dd{margin:0}
.counts{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0;margin:.5rem 0}
.counts li{border:1px solid var(--line);border-radius:6px;padding:.2rem .6rem}
.counts .n{font-weight:600}
.toolbar{position:sticky;top:0;background:var(--bg);padding:.5rem 1rem;border-bottom:1px solid var(--line);
display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;z-index:1}
.filters{display:flex;flex-wrap:wrap;gap:.25rem}
.toolbar button{font:inherit;border:1px solid var(--line);background:var(--panel);color:var(--fg);border-radius:6px;
padding:.2rem .6rem;cursor:pointer}
.toolbar button[aria-pressed="true"]{background:var(--fg);color:var(--bg)}
.toolbar button:focus-visible,summary:focus-visible,input:focus-visible{outline:2px solid var(--info);outline-offset:2px}
.badge{display:inline-block;min-width:1.5em;text-align:center;border-radius:1em;padding:0 .3em;margin-left:.2em;
background:var(--line);color:var(--fg);font-size:.85em}
.toolbar input{font:inherit;padding:.2rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);
color:var(--fg);min-width:16rem}
#visible-count{margin:0;color:var(--muted)}
.suite-counts{font-weight:400;font-size:.85rem;color:var(--muted);margin-left:.5rem}
.file{color:var(--muted);margin:0 0 .5rem}
.case{border:1px solid var(--line);border-left-width:4px;border-radius:6px;margin:.35rem 0;background:var(--bg)}
.case>summary{cursor:pointer;padding:.35rem .6rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:baseline}
.case[open]>summary{border-bottom:1px solid var(--line)}
.case-body{padding:.25rem .9rem .75rem}
.status{font-weight:600;text-transform:uppercase;font-size:.75rem;letter-spacing:.03em}
.st-failed{border-left-color:var(--failed)}.st-failed .status,.status.st-failed{color:var(--failed)}
.st-warning{border-left-color:var(--warning)}.st-warning .status,.status.st-warning{color:var(--warning)}
.st-info{border-left-color:var(--info)}.st-info .status,.status.st-info{color:var(--info)}
.st-skipped{border-left-color:var(--skipped)}.st-skipped .status,.status.st-skipped{color:var(--skipped)}
.st-passed{border-left-color:var(--passed)}.st-passed .status,.status.st-passed{color:var(--passed)}
.level,.duration{color:var(--muted);font-size:.85em}
.tag{font-size:.75rem;border-radius:4px;padding:0 .35rem;border:1px solid currentColor}
.tag-expected{color:var(--warning)}.tag-stale{color:var(--failed)}
.checks{list-style:none;padding:0;margin:0}
.check{border-top:1px dashed var(--line);padding:.4rem 0}
.check:first-child{border-top:0}
.check-mark{font-weight:700;margin-right:.35rem}
.check-pass .check-mark{color:var(--passed)}.check-fail .check-mark{color:var(--failed)}
.message{margin:.2rem 0;font-weight:500}
.values{display:grid;grid-template-columns:max-content 1fr;gap:0 .75rem;margin:.25rem 0}
.values dt{color:var(--muted);padding-top:.35rem}.values dd{margin:0}
.exchange{margin:.35rem 0;border:1px solid var(--line);border-radius:6px;padding:0 .5rem}
.exchange>summary{cursor:pointer;padding:.25rem 0}
.http{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
@media (max-width:800px){.http{grid-template-columns:1fr}}
.steps{margin:.25rem 0;padding-left:1.5rem}
.step-error{color:var(--failed)}.step-skipped{color:var(--muted)}
.reason{margin:.35rem 0}
#no-match{color:var(--muted)}
footer{color:var(--muted);margin:2rem auto 1rem}
`;

const SCRIPT = `
(function () {
  var dataElement = document.getElementById('${DATA_ELEMENT_ID}');
  var data = JSON.parse(dataElement.textContent);
  var toolbar = document.getElementById('toolbar');
  var buttons = Array.prototype.slice.call(document.querySelectorAll('[data-filter]'));
  var search = document.getElementById('search');
  var visible = document.getElementById('visible-count');
  var noMatch = document.getElementById('no-match');
  var cases = Array.prototype.slice.call(document.querySelectorAll('.case'));
  var suites = Array.prototype.slice.call(document.querySelectorAll('.suite'));
  var filter = 'all';
  toolbar.hidden = false;

  function apply() {
    var query = search.value.trim().toLowerCase();
    var shown = 0;
    cases.forEach(function (el) {
      var ok = (filter === 'all' || el.getAttribute('data-status') === filter) &&
        (query === '' || el.getAttribute('data-search').indexOf(query) !== -1);
      el.hidden = !ok;
      if (ok) shown++;
    });
    suites.forEach(function (section) {
      section.hidden = section.querySelector('.case:not([hidden])') === null;
    });
    visible.textContent = shown + ' of ' + cases.length + ' cases shown';
    noMatch.hidden = shown !== 0;
  }

  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      filter = button.getAttribute('data-filter');
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
      apply();
    });
  });
  search.addEventListener('input', apply);

  document.getElementById('download').addEventListener('click', function () {
    var blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    var link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = 'results.json';
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });

  function openFromHash() {
    var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === 'DETAILS') target.open = true;
  }
  window.addEventListener('hashchange', openFromHash);
  openFromHash();
  apply();
})();
`;

function cspHash(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

function links(requirements: readonly Requirement[]): string {
  return withUrls(requirements)
    .map((r) =>
      r.url
        ? `<a href="${escapeHtml(r.url)}" rel="noopener noreferrer" target="_blank">${escapeHtml(r.tag)}</a>`
        : `<code>${escapeHtml(r.tag)}</code>`,
    )
    .join(', ');
}

/** An HTML id from any text: letters, digits, `-` and `_`, unique within the page. */
function idMaker(): (text: string) => string {
  const seen = new Map<string, number>();
  return (text) => {
    const base = text.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n + 1}`;
  };
}

function prettyBody(body: string): string {
  try {
    const trimmed = body.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('['))
      return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  return body;
}

function headerLines(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\n');
}

function exchangeHtml(exchange: Exchange, open: boolean): string {
  const { request, response } = exchange;
  const answer = response ? String(response.status) : 'no response';
  const requestText = [
    `${request.method} ${request.url}`,
    headerLines(request.headers),
    ...(request.body ? ['', truncate(prettyBody(request.body), MAX_BODY_CHARS)] : []),
  ]
    .filter((line, i) => i !== 1 || line !== '')
    .join('\n');
  const responseText = response
    ? [
        `HTTP ${response.status}`,
        headerLines(response.headers),
        ...(response.body ? ['', truncate(prettyBody(response.body), MAX_BODY_CHARS)] : []),
      ]
        .filter((line, i) => i !== 1 || line !== '')
        .join('\n')
    : `no response: ${exchange.error ?? 'unknown error'}`;
  return `<details class="exchange" data-exchange="${exchange.id}"${open ? ' open' : ''}>
<summary>Exchange #${exchange.id}: <code>${escapeHtml(request.method)} ${escapeHtml(truncate(request.url, 200))}</code> → <strong>${escapeHtml(answer)}</strong> <span class="duration">${escapeHtml(exchange.step)} · ${formatDuration(exchange.durationMs)}</span></summary>
<div class="http"><div><h4>Request</h4><pre class="request">${escapeHtml(requestText)}</pre></div>
<div><h4>Response</h4><pre class="response">${escapeHtml(responseText)}</pre></div></div>
</details>`;
}

function checkHtml(result: CaseResult, check: CheckResult): string {
  const failed = check.status === 'fail';
  const parts = [
    `<li class="check check-${check.status}" data-check="${escapeHtml(check.check)}">`,
    `<p><span class="check-mark" aria-hidden="true">${failed ? '✗' : '✓'}</span><span class="sr-only">${failed ? 'failed: ' : 'passed: '}</span><strong>${escapeHtml(check.description)}</strong> <code>${escapeHtml(check.check)}</code></p>`,
  ];
  if (check.message) parts.push(`<p class="message">${escapeHtml(check.message)}</p>`);
  if ('expected' in check || 'actual' in check) {
    parts.push('<dl class="values">');
    if ('expected' in check) {
      parts.push(
        `<dt>Expected</dt><dd><pre class="expected">${escapeHtml(formatValue(check.expected, true))}</pre></dd>`,
      );
    }
    if ('actual' in check) {
      parts.push(
        `<dt>Actual</dt><dd><pre class="actual">${escapeHtml(formatValue(check.actual, true))}</pre></dd>`,
      );
    }
    parts.push('</dl>');
  }
  const requirements = check.requirements.length ? check.requirements : result.requirements;
  if (requirements.length) parts.push(`<p class="requirements">Spec: ${links(requirements)}</p>`);
  for (const id of check.exchanges) {
    const exchange = result.exchanges.find((e) => e.id === id);
    if (exchange) parts.push(exchangeHtml(exchange, failed));
  }
  parts.push('</li>');
  return parts.join('\n');
}

function caseHtml(suite: SuiteResult, result: CaseResult, id: string): string {
  const tags: string[] = [];
  if (result.expectedFailure === 'matched')
    tags.push('<span class="tag tag-expected">expected failure</span>');
  if (result.expectedFailure === 'stale')
    tags.push('<span class="tag tag-stale">stale expected failure</span>');
  const body: string[] = [];
  if (result.status === 'skipped') {
    body.push(
      `<p class="reason"><strong>Skipped:</strong> ${escapeHtml(result.reason ?? 'no reason given')}</p>`,
    );
  } else if (isErrored(result)) {
    body.push(`<p class="reason"><strong>Error:</strong> ${escapeHtml(errorMessage(result))}</p>`);
  } else if (result.reason) {
    body.push(`<p class="reason">${escapeHtml(result.reason)}</p>`);
  }
  if (result.expectedFailure === 'stale') {
    body.push(
      '<p class="reason">Listed in the expected-failures file, but it did not fail: remove it from the file.</p>',
    );
  }
  if (result.requirements.length)
    body.push(`<p class="requirements">Requirements: ${links(result.requirements)}</p>`);
  if (result.steps.length) {
    body.push('<h3>Steps</h3><ol class="steps">');
    for (const step of result.steps) {
      body.push(
        `<li class="step-${step.status}"><code>${escapeHtml(step.step)}</code> ${escapeHtml(step.title)} <span class="duration">${escapeHtml(step.status)} · ${formatDuration(step.durationMs)}</span>${step.message ? ` — ${escapeHtml(step.message)}` : ''}</li>`,
      );
    }
    body.push('</ol>');
  }
  if (result.checks.length) {
    // Failing checks first: what the reader opened the case for.
    const ordered = [...failingChecks(result), ...result.checks.filter((c) => c.status === 'pass')];
    body.push(
      `<h3>Checks</h3><ol class="checks">${ordered.map((c) => checkHtml(result, c)).join('\n')}</ol>`,
    );
  }
  const judged = new Set(result.checks.flatMap((c) => c.exchanges));
  const other = result.exchanges.filter((e) => !judged.has(e.id));
  if (other.length) {
    body.push(`<h3>Other exchanges</h3>${other.map((e) => exchangeHtml(e, false)).join('\n')}`);
  }
  return `<details class="case st-${result.status}" id="${escapeHtml(id)}" data-status="${result.status}" data-search="${escapeHtml(caseSearchText(suite, result))}">
<summary><span class="status">${result.status}</span> <code class="case-id">${escapeHtml(result.id)}</code> <span class="case-title">${escapeHtml(result.title)}</span> <span class="level">${result.level}</span> <span class="duration">${formatDuration(result.durationMs)}</span> ${tags.join(' ')}</summary>
<div class="case-body">
${body.join('\n')}
</div>
</details>`;
}

function suiteHtml(suite: SuiteResult, makeId: (text: string) => string): string {
  const s = suiteSummary(suite);
  const id = makeId(`suite-${suite.id}`);
  const counts = STATUS_ORDER.filter((status) => countOf(s, status) > 0)
    .map((status) => `${countOf(s, status)} ${status}`)
    .join(' · ');
  return `<section class="suite" id="${escapeHtml(id)}" aria-labelledby="${escapeHtml(id)}-h">
<h2 id="${escapeHtml(id)}-h">${escapeHtml(suite.title)} <code>${escapeHtml(suite.id)}</code><span class="suite-counts">${escapeHtml(counts)}</span></h2>
<p class="file">${escapeHtml(suite.file)}</p>
${suite.cases.map((c) => caseHtml(suite, c, makeId(`case-${suite.id}-${c.id}`))).join('\n')}
</section>`;
}

function countOf(summary: ReturnType<typeof suiteSummary>, status: CaseStatus): number {
  switch (status) {
    case 'passed':
      return summary.passed;
    case 'failed':
      return summary.failed;
    case 'warning':
      return summary.warnings;
    case 'info':
      return summary.info;
    case 'skipped':
      return summary.skipped;
  }
}

/** report.html's content for a (redacted) run. */
export function htmlReport(run: RunResult): string {
  const verdict = verdictOf(run);
  const s = run.summary;
  const makeId = idMaker();
  const filters = (['all', ...STATUS_ORDER] as const).map((status) => {
    const n = status === 'all' ? s.total : countOf(s, status);
    return `<button type="button" data-filter="${status}" aria-pressed="${status === 'all'}">${FILTER_LABEL[status]} <span class="badge" data-count="${status}">${n}</span></button>`;
  });
  const countItems = [
    `<li><span class="n" data-total="total">${s.total}</span> cases</li>`,
    ...STATUS_ORDER.map(
      (status) =>
        `<li class="st-${status}"><span class="n" data-total="${status}">${countOf(s, status)}</span> <span class="status">${status}</span></li>`,
    ),
  ];
  if (s.expectedFailures)
    countItems.push(
      `<li><span class="n" data-total="expected">${s.expectedFailures}</span> expected failure${s.expectedFailures === 1 ? '' : 's'}</li>`,
    );
  if (s.staleExpectedFailures.length) {
    countItems.push(
      `<li class="st-failed"><span class="n" data-total="stale">${s.staleExpectedFailures.length}</span> stale expected failure${s.staleExpectedFailures.length === 1 ? '' : 's'}</li>`,
    );
  }
  const csp = [
    "default-src 'none'",
    `style-src ${cspHash(STYLE)}`,
    `script-src ${cspHash(SCRIPT)}`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(`${verdict.word}: ${run.tool.name} report for ${run.target}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(run.tool.name)} report</h1>
<p class="verdict verdict-${verdict.word}" id="verdict"><strong>${verdict.word}</strong> ${escapeHtml(verdict.sentence)}</p>
<dl class="meta">
<dt>Target</dt><dd><code id="target">${escapeHtml(run.target)}</code></dd>
<dt>Started</dt><dd><time datetime="${escapeHtml(run.startedAt)}">${escapeHtml(run.startedAt)}</time></dd>
<dt>Duration</dt><dd>${formatDuration(run.durationMs)}</dd>
<dt>Exit code</dt><dd>${run.exitCode}: ${escapeHtml(exitCodeMeaning(run.exitCode))}</dd>
<dt>Tool</dt><dd>${escapeHtml(`${run.tool.name} ${run.tool.version}`)} · result schema ${escapeHtml(run.schemaVersion)}</dd>
</dl>
<ul class="counts" aria-label="Case counts">${countItems.join('')}</ul>
<details class="profile"><summary>Server profile</summary><pre>${escapeHtml(formatValue(run.profile, true))}</pre></details>
</header>
<nav class="toolbar" id="toolbar" aria-label="Filter cases" hidden>
<div class="filters" role="group" aria-label="Show cases by status">${filters.join('')}</div>
<label for="search">Search</label>
<input id="search" type="search" placeholder="case id, title, message, requirement" autocomplete="off">
<p id="visible-count" aria-live="polite"></p>
<button type="button" id="download">Download JSON</button>
</nav>
<main>
${run.suites.map((suite) => suiteHtml(suite, makeId)).join('\n')}
<p id="no-match" hidden>No case matches the filter.</p>
</main>
<footer>Secrets in requests, responses and messages are redacted. Generated by ${escapeHtml(`${run.tool.name} ${run.tool.version}`)}.</footer>
<script type="application/json" id="${DATA_ELEMENT_ID}">${scriptSafeJson(run)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

export class HtmlReporter implements Reporter {
  readonly name = 'html';
  readonly #outDir: string;
  readonly #redactor: Redactor;

  constructor(options: ReporterOptions) {
    this.#outDir = requireOutDir(this.name, options);
    this.#redactor = createRedactor(options.secrets ? { secrets: options.secrets } : {});
  }

  onRunStart(_info: RunStartInfo): void {}
  onCaseStart(_suite: SuiteInfo, _case: CaseInfo): void {}
  onCaseEnd(_suite: SuiteInfo, _result: CaseResult): void {}

  async onRunEnd(raw: RunResult): Promise<string[]> {
    return [await writeReportFile(this.#outDir, HTML_FILE, htmlReport(redactRun(raw, this.#redactor)))];
  }
}
