import { type HtmlForm, parseForms } from '../agent/http.ts';
import type { CaseContext, ResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand, lookup } from '../template.ts';
import { APPROVE, type AuthorizeResult, DENY } from './oauth.ts';

/** Field names that hold a consent form's anti-CSRF token (OWASP CSRF cheat sheet: synchronizer token). */
const CSRF_FIELD = /csrf|xsrf|token|nonce/i;

/** A hidden field value that means "approve" (forms that carry the decision in a field). */
const APPROVE_VALUE = /^(approve|allow|accept|yes|grant|consent|authori[sz]e)$/i;

/** A forged value for the CSRF field: well formed, never issued. */
const FORGED_CSRF = 'forged-csrf-0000000000000000000000000000000';

/** What the `consent_form` step returns: the form, and request bodies for raw `http` steps. */
export interface ConsentFormResult {
  kind: 'consent_form';
  action: string;
  method: string;
  /** The origin of the form's action (the Origin a browser would send with it). */
  origin: string;
  /** Every field the form sends, without its buttons. */
  fields: Record<string, string>;
  approve: { name: string; value: string } | undefined;
  deny: { name: string; value: string } | undefined;
  /** The field that looks like the anti-CSRF token, or null when the form has none. */
  csrf_field: string | null;
  /**
   * Ready bodies: `approve` (what the Approve button sends), `deny`, `no_action` (the fields
   * without any button or hidden approval value), and, when the form has a CSRF field,
   * `no_csrf` (approve without it) and `wrong_csrf` (approve with a forged value).
   */
  bodies: Record<string, Record<string, string>>;
}

function button(form: HtmlForm, pattern: RegExp): { name: string; value: string } | undefined {
  const b = form.buttons.find((x) => pattern.test(`${x.value} ${x.text}`));
  return b ? { name: b.name, value: b.value } : undefined;
}

/**
 * Reads the consent form of a page the `authorize` step stopped at (`consent: stop`), so that
 * raw `http` steps can post it with parts missing or forged (edge 4): the CSRF token left out or
 * replaced, a foreign Origin, no approve action.
 */
export async function consentForm(
  ctx: CaseContext,
  args: Record<string, unknown>,
): Promise<ConsentFormResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  // `of` names a result like a check's `of` (`auth`), or is a template that gives one.
  const source = (typeof a['of'] === 'string' ? lookup(ctx.vars, a['of']) : a['of']) as
    | AuthorizeResult
    | ResponseResult
    | undefined;
  const page = source?.kind === 'authorize' ? source.consent_page : source;
  if (page?.kind !== 'response') {
    throw new RunnerError('ERR_STEP_FAILED', `"of" holds no consent page (the server showed none)`);
  }
  const form = parseForms(page.body, page.url).find((f) =>
    f.buttons.some((b) => APPROVE.test(`${b.value} ${b.text}`)),
  );
  if (!form)
    throw new RunnerError('ERR_STEP_FAILED', `the page at ${page.url} has no form with an approve button`);
  const approve = button(form, APPROVE);
  const deny = button(form, DENY);
  const csrfField =
    typeof a['csrf_field'] === 'string'
      ? a['csrf_field']
      : (Object.keys(form.fields).find((name) => CSRF_FIELD.test(name)) ?? null);
  const withButton = (b: { name: string; value: string } | undefined) =>
    b?.name ? { ...form.fields, [b.name]: b.value } : { ...form.fields };
  const bodies: Record<string, Record<string, string>> = {
    approve: withButton(approve),
    deny: withButton(deny),
    // Without the button, and without a hidden field that carries the approval itself.
    no_action: Object.fromEntries(Object.entries(form.fields).filter(([, v]) => !APPROVE_VALUE.test(v))),
  };
  if (csrfField) {
    const { [csrfField]: _dropped, ...rest } = bodies['approve']!;
    bodies['no_csrf'] = rest;
    bodies['wrong_csrf'] = { ...bodies['approve']!, [csrfField]: FORGED_CSRF };
  }
  return {
    kind: 'consent_form',
    action: form.action,
    method: form.method,
    origin: new URL(form.action).origin,
    fields: { ...form.fields },
    approve,
    deny,
    csrf_field: csrfField,
    bodies,
  };
}
