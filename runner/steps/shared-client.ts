/**
 * `shared_client: { ...register fields }`: a client registered once per run for each distinct set
 * of registration fields, for cases that need *a* client but do not test registration. A server
 * that rate-limits dynamic registration (security edge 15: 60 a minute for the reference server)
 * would otherwise refuse the later cases of a full run. The result has the `register` step's
 * shape (`client`); a failed registration is not kept, so the next case tries again.
 */
import type { CaseContext, RunContext } from '../context.ts';
import { expand } from '../template.ts';
import { register } from './oauth.ts';

type Registered = Awaited<ReturnType<typeof register>>;

const registered = new WeakMap<RunContext, Map<string, Promise<Registered>>>();

export async function sharedClient(ctx: CaseContext, args: Record<string, unknown>): Promise<Registered> {
  const key = JSON.stringify(expand(args, ctx.vars));
  let clients = registered.get(ctx.run);
  if (!clients) {
    clients = new Map();
    registered.set(ctx.run, clients);
  }
  let pending = clients.get(key);
  if (!pending) {
    pending = register(ctx, args);
    clients.set(key, pending);
    pending.then(
      (res) => {
        if (!res.client) clients.delete(key);
      },
      () => clients.delete(key),
    );
    return pending;
  }
  // Another case registered it: its exchanges belong to that case.
  return { ...(await pending), exchanges: [] };
}
